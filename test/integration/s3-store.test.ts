/**
 * The artifact store against a real S3-compatible server (SeaweedFS), with the faults production
 * object storage has (throttling, cut bodies, a restart, a server without conditional writes) and
 * the configuration mistakes users make (no bucket, no credentials, wrong keys, no permission).
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { StoreIntegrityError } from '../../activities/store/artifact-store';
import { LocalCache } from '../../activities/store/local-cache';
import { probeStore } from '../../activities/store/probe';
import { publish, readSeal, sealedFiles } from '../../activities/store/publish';
import { S3Store, type S3Tuning } from '../../activities/store/s3-store';
import { StoreConfigError } from '../../config/errors';
import { S3FaultProxy } from '../fakes/s3-fault-proxy';
import { tmpDir } from '../helpers/paths';
import { S3_ADMIN, S3_READER, startS3Server, type S3TestServer } from '../helpers/s3-server';

jest.setTimeout(300_000);

const MiB = 1024 * 1024;
const TUNING: S3Tuning = { partBytes: 5 * MiB, concurrency: 4, maxAttempts: 8 };
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

let server: S3TestServer;
const saved = { ...process.env };

function useCredentials(c: { accessKeyId: string; secretAccessKey: string }) {
  process.env.AWS_ACCESS_KEY_ID = c.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = c.secretAccessKey;
}

const stores: S3Store[] = [];
function store(opts: { endpoint?: string; bucket?: string; prefix?: string; tuning?: S3Tuning } = {}): S3Store {
  const s = new S3Store(
    { kind: 's3', bucket: opts.bucket ?? 'artifacts', prefix: opts.prefix ?? 'team/runs', endpoint: opts.endpoint ?? server.endpoint, forcePathStyle: true },
    opts.tuning ?? TUNING,
  );
  stores.push(s);
  return s;
}

function bigFile(bytes: number): { file: string; sha256: string } {
  const file = path.join(tmpDir('alignloop-big-'), 'weights.bin');
  const buf = randomBytes(bytes);
  fs.writeFileSync(file, buf);
  return { file, sha256: sha(buf) };
}

beforeAll(async () => {
  server = await startS3Server(tmpDir('alignloop-s3-'));
  await server.createBucket('artifacts');
}, 180_000);

beforeEach(() => useCredentials(S3_ADMIN));

afterEach(() => {
  for (const s of stores.splice(0)) s.destroy();
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
  Object.assign(process.env, saved);
});

afterAll(async () => {
  await server?.kill();
});

describe('S3 store on a real server', () => {
  test('small and multipart objects go up and come down whole, hash-checked, with progress', async () => {
    const s = store();
    const small = await s.putBytes('c/iter-001/a.json', '{"a":1}\n');
    expect(small).toMatchObject({ bytes: 8, sha256: sha('{"a":1}\n'), written: true });
    expect(await s.head('c/iter-001/a.json')).toMatchObject({ key: 'c/iter-001/a.json', bytes: 8, sha256: sha('{"a":1}\n') });
    expect(await s.head('c/iter-001/none.json')).toBeNull();

    const { file, sha256 } = bigFile(23 * MiB + 17);
    const up: number[] = [];
    const put = await s.putFile('c/iter-001/train/weights.bin', file, { progress: (d) => up.push(d) });
    expect(put).toMatchObject({ bytes: 23 * MiB + 17, sha256 });
    expect(up[up.length - 1]).toBe(23 * MiB + 17);
    const down: number[] = [];
    const dest = path.join(tmpDir(), 'weights.bin');
    const got = await s.getFile('c/iter-001/train/weights.bin', dest, { progress: (d) => down.push(d) });
    expect(got.sha256).toBe(sha256);
    expect(sha(fs.readFileSync(dest))).toBe(sha256);
    expect(down).toEqual([...down].sort((a, b) => a - b));
    expect(down[down.length - 1]).toBe(23 * MiB + 17);

    const keys: string[] = [];
    for await (const o of s.list('c/iter-001/')) keys.push(o.key);
    expect(keys).toEqual(['c/iter-001/a.json', 'c/iter-001/train/weights.bin']);
    await s.delete('c/iter-001/a.json');
    expect(await s.head('c/iter-001/a.json')).toBeNull();
  });

  test('an object changed behind the store is refused on read, and nothing lands at the destination', async () => {
    const s = store();
    const put = await s.putBytes('c/shard-000.jsonl', 'original\n');
    // Someone rewrites the object and keeps its recorded hash.
    await s.client.send(
      new PutObjectCommand({ Bucket: 'artifacts', Key: 'team/runs/c/shard-000.jsonl', Body: 'tampered\n', Metadata: { sha256: put.sha256 } }),
    );
    const dest = path.join(tmpDir(), 'shard.jsonl');
    await expect(s.getFile('c/shard-000.jsonl', dest)).rejects.toBeInstanceOf(StoreIntegrityError);
    expect(fs.existsSync(dest)).toBe(false);
    await expect(s.getBytes('c/shard-000.jsonl', { sha256: put.sha256 })).rejects.toThrow(/hashes to sha256/);
  });

  test('create-only seals: of five workers publishing one step at once, exactly one wins and all use its output', async () => {
    const s = store();
    expect(await s.conditionalWrites()).toBe(true);
    const dir = tmpDir();
    const outcomes = await Promise.all(
      [0, 1, 2, 3, 4].map((i) => {
        const f = path.join(dir, `out-${i}.jsonl`);
        fs.writeFileSync(f, `result of worker ${i}\n`);
        return publish(s, 'c/iter-002/scored/shard-000.jsonl', [{ name: '', path: f }], { worker: i });
      }),
    );
    expect(outcomes.filter((o) => o.won)).toHaveLength(1);
    const winner = outcomes.find((o) => o.won)!.seal;
    for (const o of outcomes) expect(o.seal).toEqual(winner);
    expect(await readSeal(s, 'c/iter-002/scored/shard-000.jsonl')).toEqual(winner);
    const cache = new LocalCache(tmpDir('alignloop-cache-'), 1e9);
    const local = await cache.file(s, sealedFiles(winner)['']);
    expect(fs.readFileSync(local, 'utf8')).toBe(`result of worker ${(winner.extra as { worker: number }).worker}\n`);
  });

  test('a server that ignores If-None-Match is detected, and a create-only write then looks before it writes', async () => {
    const proxy = new S3FaultProxy(server.endpoint);
    const endpoint = await proxy.start();
    proxy.plan = { ignoreConditional: true };
    try {
      const s = store({ endpoint, prefix: 'no-conditional' });
      expect(await s.conditionalWrites()).toBe(false);
      expect((await s.putBytes('seal.json', 'first', { ifAbsent: true })).written).toBe(true);
      expect((await s.putBytes('seal.json', 'second', { ifAbsent: true })).written).toBe(false);
      expect((await s.getBytes('seal.json')).toString()).toBe('first');
    } finally {
      await proxy.stop();
    }
  });

  test('throttling (503 SlowDown) and bodies cut mid-transfer are retried with backoff', async () => {
    const proxy = new S3FaultProxy(server.endpoint);
    const endpoint = await proxy.start();
    try {
      const s = store({ endpoint, prefix: 'faults' });
      proxy.plan = { slowDownEvery: 3 };
      for (let i = 0; i < 12; i++) await s.putBytes(`k/${i}`, `value ${i}`);
      for (let i = 0; i < 12; i++) expect((await s.getBytes(`k/${i}`)).toString()).toBe(`value ${i}`);
      expect(proxy.slowDowns).toBeGreaterThan(5);

      proxy.plan = {};
      const { file, sha256 } = bigFile(21 * MiB);
      await s.putFile('big.bin', file);
      proxy.plan = { cutGets: 3, cutAfterBytes: 64 * 1024 };
      const dest = path.join(tmpDir(), 'big.bin');
      expect((await s.getFile('big.bin', dest)).sha256).toBe(sha256);
      expect(proxy.cuts).toBe(3);
    } finally {
      await proxy.stop();
    }
  });

  test('a server restart in the middle of a download: the parts retry and the file comes down whole', async () => {
    const s = store({ prefix: 'restart', tuning: { partBytes: 5 * MiB, concurrency: 1, maxAttempts: 10 } });
    const { file, sha256 } = bigFile(40 * MiB);
    await s.putFile('ckpt/weights.bin', file);
    const dest = path.join(tmpDir(), 'weights.bin');
    let restarted: Promise<void> | null = null;
    const got = await s.getFile('ckpt/weights.bin', dest, {
      progress: (d) => {
        if (d > 0 && !restarted) restarted = server.restart();
      },
    });
    await restarted;
    expect(restarted).not.toBeNull();
    expect(got.sha256).toBe(sha256);
    expect(sha(fs.readFileSync(dest))).toBe(sha256);
  }, 180_000);
});

describe('S3 store configuration mistakes: a clear error naming the setting', () => {
  test('a bucket that does not exist', async () => {
    const s = store({ bucket: 'no-such-bucket' });
    const e = await s.putBytes('x', 'y').catch((err) => err);
    expect(e).toBeInstanceOf(StoreConfigError);
    expect(e.message).toMatch(/artifacts.root: bucket "no-such-bucket" does not exist at artifacts.endpoint/);
    // HEAD has no error body: a missing bucket must not read as a missing key.
    await expect(s.head('x')).rejects.toThrow(/bucket "no-such-bucket" does not exist/);
  });

  test('no permission to write, unknown access key, wrong secret, no credentials at all', async () => {
    useCredentials(S3_READER);
    const r = await probeStore(store());
    expect(r.ok).toBe(false);
    expect(r.problems.join('\n')).toMatch(/permission denied \(write\): the credentials in use need s3:PutObject on s3:\/\/artifacts\/team\/runs\/\*/);

    useCredentials({ accessKeyId: 'nobody', secretAccessKey: 'x' });
    await expect(store().putBytes('x', 'y')).rejects.toThrow(/does not know the access key in use: check AWS_ACCESS_KEY_ID/);

    useCredentials({ accessKeyId: S3_ADMIN.accessKeyId, secretAccessKey: 'wrong secret' });
    await expect(store().putBytes('x', 'y')).rejects.toThrow(/secret key does not match the access key: check AWS_SECRET_ACCESS_KEY/);

    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    Object.assign(process.env, {
      AWS_SHARED_CREDENTIALS_FILE: path.join(tmpDir(), 'none'),
      AWS_CONFIG_FILE: path.join(tmpDir(), 'none'),
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    const e = await store()
      .putBytes('x', 'y')
      .catch((err) => err);
    expect(e).toBeInstanceOf(StoreConfigError);
    expect(e.message).toMatch(/no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY .*credentials never go in the campaign file/);
  });

  test('an endpoint whose host does not resolve, and one where nothing listens', async () => {
    const tuning = { ...TUNING, maxAttempts: 2 };
    await expect(store({ endpoint: 'http://no-such-host.invalid:9000', tuning }).putBytes('x', 'y')).rejects.toThrow(
      /host of artifacts.endpoint \(http:\/\/no-such-host.invalid:9000\) is not found \(DNS\): correct artifacts.endpoint/,
    );
    const refused = await store({ endpoint: 'http://127.0.0.1:9', tuning })
      .putBytes('x', 'y')
      .catch((err) => err);
    // Retryable (a restarting server looks the same), but it says where it looked.
    expect(refused).not.toBeInstanceOf(StoreConfigError);
    expect(refused.message).toMatch(/nothing answers at artifacts.endpoint \(http:\/\/127.0.0.1:9\)/);
  });

  test('the probe passes on a good store and reports conditional writes', async () => {
    expect(await probeStore(store())).toEqual({ ok: true, problems: [], conditionalWrites: true });
  });
});
