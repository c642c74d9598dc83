/**
 * The reply cache (judge, sampler, reward server) holds an index in memory and reads entries from its
 * files when asked: several writers' files, reads cut anywhere (tiny scan chunks), lines written by
 * a live writer still mid-line, a file over V8's 512 MiB string limit, generations not loaded.
 */
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ReplyCache } from '../../activities/openai/reply-cache';
import { tmpDir } from '../helpers/paths';

interface Entry {
  key: string;
  raw: string;
  n: number;
}

const text = fc.string({ unit: fc.constantFrom('a', 'é', '😀', '"', '\\', '\n', ' ', '{', '}'), maxLength: 300 });

describe('reply cache index', () => {
  test('what one writer put, another process reads back equal, whatever the scan chunk size and entry sizes', () => {
    fc.assert(
      fc.property(
        // Keys unique: across writers' files no order is promised (one key is one reply, bought once).
        fc.uniqueArray(fc.record({ key: fc.string({ unit: fc.constantFrom('0', '1', 'a', 'f'), minLength: 1, maxLength: 64 }), raw: text, n: fc.integer() }), {
          maxLength: 20,
          selector: (e) => e.key,
        }),
        fc.integer({ min: 1, max: 40 }),
        (entries, chunk) => {
          const dir = tmpDir('alignloop-rc-');
          const a = new ReplyCache<Entry>(dir, 'judgements');
          const b = new ReplyCache<Entry>(dir, 'judgements');
          entries.forEach((e, i) => (i % 3 === 0 ? a.putAll([e, e]) : b.put(e)));
          a.close();
          b.close();
          const last = new Map(entries.map((e) => [e.key, e]));
          const c = new ReplyCache<Entry>(dir, 'judgements', { scanChunkBytes: chunk });
          expect(c.size).toBe(last.size);
          for (const [k, e] of last) expect(c.get(k)).toEqual(e);
          expect(c.get('not-there')).toBeUndefined();
          fs.rmSync(dir, { recursive: true });
        },
      ),
      { numRuns: 40 },
    );
  });

  test('a line another writer is still writing is indexed once it is whole; lines of another shape are parsed', () => {
    const dir = tmpDir('alignloop-rc-');
    const c = new ReplyCache<Entry>(dir, 'judgements', { scanChunkBytes: 5 });
    const other = path.join(dir, 'judgements-otherhost-1-abc.jsonl');
    fs.writeFileSync(other, '{"raw":"old shape","key":"k0","n":0}\n\n{"key":"k1","raw":"first","n":1}\n{"key":"k2","ra');
    c.refresh();
    expect(c.get('k0')).toEqual({ raw: 'old shape', key: 'k0', n: 0 });
    expect(c.get('k1')).toEqual({ key: 'k1', raw: 'first', n: 1 });
    expect(c.get('k2')).toBeUndefined();
    fs.appendFileSync(other, 'w":"second","n":2}\n');
    c.refresh();
    expect(c.get('k2')).toEqual({ key: 'k2', raw: 'second', n: 2 });
    expect(c.size).toBe(3);
  });

  test('a cache file over 512 MiB opens (indexed in chunks), and the entries after its huge line are found', () => {
    const dir = tmpDir('alignloop-rc-');
    const file = path.join(dir, 'judgements-otherhost-2-abc.jsonl');
    fs.writeFileSync(file, '{"key":"before","raw":"x","n":1}\n{"key":"huge","raw":"');
    fs.truncateSync(file, 600 * 1024 * 1024); // sparse: no disk used
    fs.appendFileSync(file, '"}\n{"key":"after","raw":"y","n":2}\n');
    try {
      const c = new ReplyCache<Entry>(dir, 'judgements');
      expect(c.get('before')).toEqual({ key: 'before', raw: 'x', n: 1 });
      expect(c.get('after')).toEqual({ key: 'after', raw: 'y', n: 2 });
      expect(c.size).toBe(3);
    } finally {
      fs.rmSync(file);
    }
  });

  test('a generation (the sampler: the iteration) does not load files of earlier generations', () => {
    const dir = tmpDir('alignloop-rc-');
    const it1 = new ReplyCache<Entry>(dir, 'samples', { generation: 1 });
    it1.put({ key: 'iter-1 sample', raw: 'a', n: 1 });
    it1.close();
    fs.writeFileSync(path.join(dir, 'samples-host-3-abc.jsonl'), '{"key":"written by an earlier version","raw":"b","n":0}\n');
    const it2 = new ReplyCache<Entry>(dir, 'samples', { generation: 2 });
    expect(it2.get('iter-1 sample')).toBeUndefined();
    expect(it2.get('written by an earlier version')).toEqual({ key: 'written by an earlier version', raw: 'b', n: 0 });
    expect(new ReplyCache<Entry>(dir, 'samples', { generation: 1 }).get('iter-1 sample')).toEqual({ key: 'iter-1 sample', raw: 'a', n: 1 });
  });
});
