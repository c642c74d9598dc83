/**
 * Never pay twice: every completed reply of a paid endpoint (a judgement, a sample) is appended and
 * fsync'd as it arrives, keyed by what determines it. Each process appends to its own file in the
 * cache folder and reads the others' (at start, and again while it waits for a key another worker is
 * buying), so a retried shard, a restarted worker, or the same request later reads the reply back
 * instead of buying it again. A claim file per key in flight stops two workers from buying the same
 * reply at the same moment; a claim of a dead process on this host is taken over at once.
 *
 * Only an index (key -> file, offset, length) is held in memory: the files are scanned in 1 MiB reads
 * (a cache of any size opens, in memory that grows with the number of entries, not their size) and
 * an entry is read from disk when asked for. A cache opened with a `generation` (the sampler: the
 * iteration) names its files after it and skips files of earlier generations (finished iterations,
 * whose samples are never asked for again).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { processAlive } from '../artifacts/host';

/** Where an entry's line is: the file (by number), its offset and its length without the newline. */
interface Location {
  file: number;
  offset: number;
  length: number;
}

/** Enough of a line's start to read its key without parsing the line: `{"key":"<64 hex>"`. */
const HEAD_BYTES = 256;
const KEY_PREFIX = Buffer.from('{"key":"');

/** The key of a line written as `{"key":"…",…}` (what putAll writes), or null for any other shape. */
function keyOfHead(head: Buffer): string | null {
  if (head.length < KEY_PREFIX.length || !head.subarray(0, KEY_PREFIX.length).equals(KEY_PREFIX)) return null;
  const close = head.indexOf(0x22, KEY_PREFIX.length);
  if (close < 0) return null;
  const key = head.toString('utf8', KEY_PREFIX.length, close);
  return key.includes('\\') ? null : key;
}

export interface ReplyCacheOptions {
  /** Entries of files of an earlier generation are not loaded (see above). */
  generation?: number;
  /** Bytes per read while indexing (tests use small ones). */
  scanChunkBytes?: number;
}

export class ReplyCache<E extends { key: string }> {
  private readonly index = new Map<string, Location>();
  private readonly files: string[] = [];
  private readonly fileNumbers = new Map<string, number>();
  /** How far each other process's file is indexed (up to its last whole line). */
  private readonly offsets = new Map<string, number>();
  private fd: number | null = null;
  private ownSize = 0;
  private readonly file: string;
  private readonly claims: string;
  private readonly scanChunk: number;

  constructor(
    readonly dir: string,
    private readonly prefix = 'replies',
    private readonly options: ReplyCacheOptions = {},
  ) {
    fs.mkdirSync(dir, { recursive: true });
    this.claims = path.join(dir, 'claims');
    fs.mkdirSync(this.claims, { recursive: true });
    // `<prefix>.g<N>-`: never the start of an older name (`<prefix>-<host>-…`), whatever the host is called.
    const generation = options.generation === undefined ? '' : `.g${options.generation}`;
    this.file = path.join(dir, `${prefix}${generation}-${os.hostname()}-${process.pid}-${randomBytes(3).toString('hex')}.jsonl`);
    this.scanChunk = Math.max(options.scanChunkBytes ?? 1 << 20, 1);
    this.refresh();
  }

  /** Whether a cache file of this folder holds entries this cache may be asked for. */
  private wanted(name: string): boolean {
    if (!name.endsWith('.jsonl')) return false;
    if (this.options.generation === undefined) return true;
    const m = new RegExp(`^${this.prefix}\\.g(\\d+)-`).exec(name);
    return !m || Number(m[1]) >= this.options.generation;
  }

  private fileNumber(file: string): number {
    let n = this.fileNumbers.get(file);
    if (n === undefined) {
      n = this.files.push(file) - 1;
      this.fileNumbers.set(file, n);
    }
    return n;
  }

  /** Indexes what other processes appended since the last look (whole lines only: a writer may be mid-line). */
  refresh(): void {
    for (const f of fs.readdirSync(this.dir).filter((n) => this.wanted(n))) {
      const file = path.join(this.dir, f);
      if (file !== this.file) this.indexFile(file);
    }
  }

  private indexFile(file: string): void {
    const from = this.offsets.get(file) ?? 0;
    const size = fs.statSync(file).size;
    if (size <= from) return;
    const no = this.fileNumber(file);
    const buf = Buffer.allocUnsafe(Math.min(this.scanChunk, size - from));
    const fd = fs.openSync(file, 'r');
    try {
      let pos = from;
      let lineStart = from;
      let pending: Buffer | null = null; // the first bytes of a line begun in an earlier read
      while (pos < size) {
        const n = fs.readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
        if (n <= 0) break;
        let i = 0;
        for (;;) {
          const nl = buf.indexOf(0x0a, i);
          if (nl < 0 || nl >= n) break;
          let head = buf.subarray(i, Math.min(nl, i + HEAD_BYTES));
          if (pending) head = Buffer.concat([pending, head]).subarray(0, HEAD_BYTES);
          pending = null;
          this.indexLine(fd, no, lineStart, pos + nl - lineStart, head);
          i = nl + 1;
          lineStart = pos + i;
        }
        if (i < n && (!pending || pending.length < HEAD_BYTES)) {
          const more = buf.subarray(i, Math.min(n, i + HEAD_BYTES));
          pending = pending ? Buffer.concat([pending, more]).subarray(0, HEAD_BYTES) : Buffer.from(more);
        }
        pos += n;
      }
      // A torn last line of a killed writer is left for a later look (it never completes: skipped).
      this.offsets.set(file, lineStart);
    } finally {
      fs.closeSync(fd);
    }
  }

  private indexLine(fd: number, file: number, offset: number, length: number, head: Buffer): void {
    if (length === 0) return;
    const key = keyOfHead(head);
    if (key !== null) {
      this.index.set(key, { file, offset, length });
      return;
    }
    // Another shape (written by hand, or by another tool): parse the whole line once.
    const line = Buffer.allocUnsafe(length);
    fs.readSync(fd, line, 0, length, offset);
    try {
      const e = JSON.parse(line.toString('utf8')) as { key?: unknown } | null;
      if (typeof e?.key === 'string') this.index.set(e.key, { file, offset, length });
    } catch {
      /* not JSON: skipped */
    }
  }

  get size(): number {
    return this.index.size;
  }

  get(key: string): E | undefined {
    const at = this.index.get(key);
    if (!at) return undefined;
    const line = Buffer.allocUnsafe(at.length);
    try {
      const fd = fs.openSync(this.files[at.file], 'r');
      try {
        if (fs.readSync(fd, line, 0, at.length, at.offset) === at.length) {
          const e = JSON.parse(line.toString('utf8')) as E;
          if (e?.key === key) return e;
        }
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      /* gone or garbled since it was indexed: a miss */
    }
    this.index.delete(key);
    return undefined;
  }

  put(e: E): void {
    this.putAll([e]);
  }

  /** Several replies of one request in one write and one fsync. */
  putAll(es: E[]): void {
    if (es.length === 0) return;
    if (this.fd === null) {
      this.fd = fs.openSync(this.file, 'a');
      this.ownSize = fs.fstatSync(this.fd).size;
    }
    // The key first, so indexing reads it without parsing the line.
    const lines = es.map(({ key, ...rest }) => Buffer.from(JSON.stringify({ key, ...rest }) + '\n'));
    const all = Buffer.concat(lines);
    for (let done = 0; done < all.length;) done += fs.writeSync(this.fd, all, done);
    fs.fsyncSync(this.fd);
    const no = this.fileNumber(this.file);
    let at = this.ownSize;
    es.forEach((e, i) => {
      this.index.set(e.key, { file: no, offset: at, length: lines[i].length - 1 });
      at += lines[i].length;
    });
    this.ownSize = at;
  }

  /**
   * Claims the right to buy `key`. False while another live process holds it. A claim is taken over
   * when its process is gone (same host), or when it was not renewed for `staleMs` (another host).
   */
  claim(key: string, staleMs: number): boolean {
    const file = path.join(this.claims, key);
    for (let i = 0; i < 2; i++) {
      try {
        fs.writeFileSync(file, `${os.hostname()} ${process.pid}`, { flag: 'wx' });
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        try {
          if (!this.claimIsStale(file, staleMs)) return false;
          fs.unlinkSync(file);
        } catch {
          /* released meanwhile: try again */
        }
      }
    }
    return false;
  }

  private claimIsStale(file: string, staleMs: number): boolean {
    const [host, pid] = fs.readFileSync(file, 'utf8').split(' ');
    if (host === os.hostname() && Number(pid) > 0) return !processAlive(Number(pid));
    return Date.now() - fs.statSync(file).mtimeMs >= staleMs;
  }

  /** Keeps a claim fresh while its owner is still trying to buy the judgement. */
  renew(key: string): void {
    const now = new Date();
    try {
      fs.utimesSync(path.join(this.claims, key), now, now);
    } catch {
      /* gone: the owner will re-claim on its next look */
    }
  }

  /** Whether another process holds a live claim on `key`. */
  heldElsewhere(key: string, staleMs: number): boolean {
    try {
      return !this.claimIsStale(path.join(this.claims, key), staleMs);
    } catch {
      return false;
    }
  }

  unclaim(key: string): void {
    fs.rmSync(path.join(this.claims, key), { force: true });
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}
