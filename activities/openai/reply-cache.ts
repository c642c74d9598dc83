/**
 * Never pay twice: every completed reply of a paid endpoint (a judgement, a sample) is appended and
 * fsync'd as it arrives, keyed by what determines it. Each process appends to its own file in the
 * cache folder and reads the others' (at start, and again while it waits for a key another worker is
 * buying), so a retried shard, a restarted worker, or the same request later reads the reply back
 * instead of buying it again. A claim file per key in flight stops two workers from buying the same
 * reply at the same moment; a claim of a dead process on this host is taken over at once.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { processAlive } from '../artifacts/host';
import { parseJsonLines } from '../artifacts/json-lines';

export class ReplyCache<E extends { key: string }> {
  private readonly entries = new Map<string, E>();
  private readonly offsets = new Map<string, number>();
  private fd: number | null = null;
  private readonly file: string;
  private readonly claims: string;

  constructor(
    readonly dir: string,
    prefix = 'replies',
  ) {
    fs.mkdirSync(dir, { recursive: true });
    this.claims = path.join(dir, 'claims');
    fs.mkdirSync(this.claims, { recursive: true });
    this.file = path.join(dir, `${prefix}-${os.hostname()}-${process.pid}-${randomBytes(3).toString('hex')}.jsonl`);
    this.refresh();
  }

  /** Reads what other processes appended since the last look (whole lines only: a writer may be mid-line). */
  refresh(): void {
    for (const f of fs.readdirSync(this.dir).filter((n) => n.endsWith('.jsonl'))) {
      const file = path.join(this.dir, f);
      if (file === this.file) continue;
      const from = this.offsets.get(file) ?? 0;
      const size = fs.statSync(file).size;
      if (size <= from) continue;
      const buf = Buffer.alloc(size - from);
      const fd = fs.openSync(file, 'r');
      try {
        fs.readSync(fd, buf, 0, buf.length, from);
      } finally {
        fs.closeSync(fd);
      }
      const end = buf.lastIndexOf(0x0a);
      if (end < 0) continue;
      // A torn line of a killed writer is skipped.
      for (const e of parseJsonLines<E>(buf.subarray(0, end).toString('utf8'), 'skip')) this.entries.set(e.key, e);
      this.offsets.set(file, from + end + 1);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): E | undefined {
    return this.entries.get(key);
  }

  put(e: E): void {
    this.putAll([e]);
  }

  /** Several replies of one request in one write and one fsync. */
  putAll(es: E[]): void {
    if (es.length === 0) return;
    if (this.fd === null) this.fd = fs.openSync(this.file, 'a');
    fs.writeSync(this.fd, es.map((e) => JSON.stringify(e) + '\n').join(''));
    fs.fsyncSync(this.fd);
    for (const e of es) this.entries.set(e.key, e);
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
