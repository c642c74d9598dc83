import { describeLocation, keyProblem, locationOf, objectName, s3RootProblem } from '../../config/store-location';

describe('artifact store locations', () => {
  test('a plain root is a local folder; an s3:// root names bucket and prefix', () => {
    expect(locationOf({ root: '/data/artifacts' })).toEqual({ kind: 'local', dir: '/data/artifacts' });
    expect(locationOf({ root: 's3://team-bucket/alignloop/runs/', endpoint: 'http://127.0.0.1:8333', forcePathStyle: true })).toEqual({
      kind: 's3',
      bucket: 'team-bucket',
      prefix: 'alignloop/runs',
      endpoint: 'http://127.0.0.1:8333',
      forcePathStyle: true,
    });
    expect(locationOf({ root: 's3://team-bucket' })).toEqual({ kind: 's3', bucket: 'team-bucket', prefix: '' });
  });

  test('a bad s3 root says what is wrong and how to write it', () => {
    expect(s3RootProblem('s3://')).toMatch(/not a valid bucket name.*s3:\/\/BUCKET\/PREFIX/);
    expect(s3RootProblem('s3://Upper_Case/x')).toMatch(/not a valid bucket name/);
    expect(s3RootProblem('s3://bucket/a/../b')).toMatch(/prefix .*"\.\."/);
    expect(s3RootProblem('s3://bucket/a/b')).toBeNull();
    expect(() => locationOf({ root: 's3://x' })).toThrow(/artifacts.root/);
  });

  test('keys stay inside the store', () => {
    for (const bad of ['', '/abs', 'a//b', 'a/./b', 'a/../../etc', '..', 'a\\b', 'a\nb']) expect(keyProblem(bad)).not.toBeNull();
    expect(keyProblem('camp-1/iter-001/samples/shard-000.jsonl')).toBeNull();
    expect(objectName('pre/fix', 'a/b')).toBe('pre/fix/a/b');
    expect(objectName('', 'a/b')).toBe('a/b');
    expect(() => objectName('p', '../x')).toThrow(/store key/);
  });

  test('a location is described without anything secret in it', () => {
    expect(describeLocation({ kind: 's3', bucket: 'b', prefix: 'p', endpoint: 'http://h:1' })).toBe('s3://b/p at http://h:1');
  });
});
