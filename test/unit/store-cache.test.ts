import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { LocalCache } from '../../activities/store/local-cache';
import { LocalStore } from '../../activities/store/local-store';
import { blobKey, publish, readSeal, sealedFiles } from '../../activities/store/publish';
import { StoreIntegrityError } from '../../activities/store/artifact-store';
import { tmpDir } from '../helpers/paths';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function folderWith(files: Record<string, string | Buffer>): string {
  const dir = tmpDir('alignloop-src-');
  for (const [n, body] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, n)), { recursive: true });
    fs.writeFileSync(path.join(dir, n), body);
  }
  return dir;
}

describe('local store', () => {
  test('writes whole files, reads them back checked, lists and deletes', async () => {
    const store = new LocalStore(tmpDir());
    const put = await store.putBytes('c/iter-001/a.json', '{"a":1}\n');
    expect(put).toMatchObject({ bytes: 8, sha256: sha('{"a":1}\n'), written: true });
    expect((await store.getBytes('c/iter-001/a.json', { sha256: put.sha256 })).toString()).toBe('{"a":1}\n');
    await expect(store.getBytes('c/iter-001/a.json', { sha256: sha('other') })).rejects.toBeInstanceOf(StoreIntegrityError);
    const keys = [];
    for await (const o of store.list('c/')) keys.push(o.key);
    expect(keys).toEqual(['c/iter-001/a.json']);
    await store.delete('c/iter-001/a.json');
    expect(await store.head('c/iter-001/a.json')).toBeNull();
  });

  test('a create-only write never replaces what is there', async () => {
    const store = new LocalStore(tmpDir());
    expect((await store.putBytes('seal.json', 'first', { ifAbsent: true })).written).toBe(true);
    expect((await store.putBytes('seal.json', 'second', { ifAbsent: true })).written).toBe(false);
    expect((await store.getBytes('seal.json')).toString()).toBe('first');
  });

  test('a download whose bytes do not hash as expected leaves nothing at the destination', async () => {
    const store = new LocalStore(tmpDir());
    await store.putBytes('x', 'payload');
    const dest = path.join(tmpDir(), 'x');
    await expect(store.getFile('x', dest, { sha256: sha('something else') })).rejects.toThrow(/hashes to sha256/);
    expect(fs.existsSync(dest)).toBe(false);
    expect(fs.readdirSync(path.dirname(dest))).toEqual([]);
  });
});

describe('publishing with a seal', () => {
  test('the first seal wins; a second writer gets the winner back and its blobs change nothing published', async () => {
    const store = new LocalStore(tmpDir());
    const a = folderWith({ 'model.bin': 'weights A', 'config.json': '{}' });
    const b = folderWith({ 'model.bin': 'weights B', 'config.json': '{}' });
    const files = (d: string) => ['model.bin', 'config.json'].map((name) => ({ name, path: path.join(d, name) }));
    const first = await publish(store, 'c/iter-001/checkpoint', files(a), { step: 1 });
    const second = await publish(store, 'c/iter-001/checkpoint', files(b), { step: 2 });
    expect(first.won).toBe(true);
    expect(second.won).toBe(false);
    expect(second.seal).toEqual(first.seal);
    const seal = (await readSeal(store, 'c/iter-001/checkpoint'))!;
    expect(seal.files['model.bin'].sha256).toBe(sha('weights A'));
    // The loser's blob exists under its own hash; the published one is untouched.
    expect((await store.getBytes(blobKey(sha('weights A')))).toString()).toBe('weights A');
  });
});

describe('the local cache', () => {
  test('a folder is fetched once, checked, and handed out as a tree; a second fetch moves no bytes', async () => {
    const store = new LocalStore(tmpDir());
    const src = folderWith({ 'model.onnx': Buffer.alloc(3000, 7), 'tok/tokenizer.json': '{"v":1}' });
    const { seal } = await publish(
      store,
      'c/rm',
      [
        { name: 'model.onnx', path: path.join(src, 'model.onnx') },
        { name: 'tok/tokenizer.json', path: path.join(src, 'tok/tokenizer.json') },
      ],
      {},
    );
    const cache = new LocalCache(tmpDir('alignloop-cache-'), 1e9);
    const moved: number[] = [];
    const tree = await cache.folder(store, sealedFiles(seal), (d) => moved.push(d));
    expect(fs.readFileSync(path.join(tree, 'tok/tokenizer.json'), 'utf8')).toBe('{"v":1}');
    expect(fs.statSync(path.join(tree, 'model.onnx')).size).toBe(3000);
    expect(Math.max(...moved)).toBe(3000 + 7);
    // Gone from the store: the cached tree still serves it.
    for await (const o of store.list('blobs/')) await store.delete(o.key);
    expect(await cache.folder(store, sealedFiles(seal))).toBe(tree);
  });

  test('a damaged blob in the store is refused, not cached', async () => {
    const root = tmpDir();
    const store = new LocalStore(root);
    const src = folderWith({ 'w.bin': 'good bytes' });
    const { seal } = await publish(store, 'c/ckpt', [{ name: 'w.bin', path: path.join(src, 'w.bin') }], {});
    fs.writeFileSync(path.join(root, ...blobKey(seal.files['w.bin'].sha256).split('/')), 'evil bytes');
    const cache = new LocalCache(tmpDir('alignloop-cache-'), 1e9);
    await expect(cache.folder(store, sealedFiles(seal))).rejects.toThrow(/hashes to sha256/);
    expect(cache.usage()).toBe(0);
  });

  test('over its cap the least recently used goes first, and a pinned entry stays', async () => {
    const store = new LocalStore(tmpDir());
    const seals = [];
    for (const n of [1, 2, 3]) {
      const src = folderWith({ 'w.bin': Buffer.alloc(1000, n) });
      seals.push((await publish(store, `c/ckpt-${n}`, [{ name: 'w.bin', path: path.join(src, 'w.bin') }], {})).seal);
    }
    const cache = new LocalCache(tmpDir('alignloop-cache-'), 2500);
    const t1 = await cache.folder(store, sealedFiles(seals[0]));
    const unpin = cache.pin(t1);
    // Make t1 the oldest entry.
    fs.utimesSync(t1, new Date(0), new Date(0));
    const t2 = await cache.folder(store, sealedFiles(seals[1]));
    fs.utimesSync(t2, new Date(1000), new Date(1000));
    const t3 = await cache.folder(store, sealedFiles(seals[2]));
    // 3000 bytes > 2500: the oldest unpinned tree (t2) and its blob went; the pinned t1 stayed.
    expect(fs.existsSync(t1)).toBe(true);
    expect(fs.existsSync(t2)).toBe(false);
    expect(fs.existsSync(t3)).toBe(true);
    expect(cache.usage()).toBe(2000);
    unpin();
    const t4 = await cache.folder(store, sealedFiles(seals[1]));
    expect(fs.existsSync(t1)).toBe(false);
    expect(fs.existsSync(t4)).toBe(true);
  });
});
