/**
 * Atomic file writes: content goes to a temp file beside the target, is fsync'd, then renamed
 * over it, so a reader (or a retried activity) sees the whole file or none of it.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HOST, processAlive } from './host';

export interface WrittenFile {
  path: string;
  sha256: string;
  bytes: number;
}

const FLUSH_AT = 1 << 20;

/** A temp file of another host is only removed once it is this old (its writer may still be at work there). */
const FOREIGN_STALE_MS = 24 * 3600 * 1000;

/**
 * Removes temp files a killed writer left beside `target` (`<name>.tmp-<host>-<pid>-<rand>`): on this
 * host when their process is gone, from other hosts (shared storage) when they are a day old.
 */
export function removeStaleTemps(target: string): string[] {
  const dir = path.dirname(target);
  const prefix = `${path.basename(target)}.tmp-`;
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.startsWith(prefix));
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = /^(.*)-(\d+)-[0-9a-f]+$/.exec(name.slice(prefix.length));
    const file = path.join(dir, name);
    let stale: boolean;
    if (m && m[1] === HOST) stale = Number(m[2]) !== process.pid && !processAlive(Number(m[2]));
    else {
      try {
        stale = Date.now() - fs.statSync(file).mtimeMs > FOREIGN_STALE_MS;
      } catch {
        stale = false;
      }
    }
    if (stale) {
      fs.rmSync(file, { force: true });
      removed.push(file);
    }
  }
  return removed;
}

/** Write the pieces atomically; returns the sha256 and size of what was written. */
/**
 * A file written piece by piece into a temp file beside its target, hashed as it goes, and renamed
 * into place only by commit(): a reader never sees a half-written file. abort() removes the temp.
 */
export class AtomicFileWriter {
  private readonly tmp: string;
  private readonly fd: number;
  private readonly hash = createHash('sha256');
  private bytes = 0;
  private buf: string[] = [];
  private buffered = 0;

  constructor(private readonly target: string) {
    fs.mkdirSync(path.dirname(target), { recursive: true });
    removeStaleTemps(target);
    this.tmp = `${target}.tmp-${HOST}-${process.pid}-${randomBytes(4).toString('hex')}`;
    this.fd = fs.openSync(this.tmp, 'w');
  }

  write(piece: string): void {
    this.buf.push(piece);
    this.buffered += piece.length;
    if (this.buffered >= FLUSH_AT) this.flush();
  }

  private flush(): void {
    if (this.buffered === 0) return;
    const b = Buffer.from(this.buf.join(''), 'utf8');
    this.hash.update(b);
    fs.writeSync(this.fd, b);
    this.bytes += b.length;
    this.buf = [];
    this.buffered = 0;
  }

  commit(): WrittenFile {
    try {
      this.flush();
      fs.fsyncSync(this.fd);
      fs.closeSync(this.fd);
      fs.renameSync(this.tmp, this.target);
      // The rename is durable only once the folder's entry is: a lost machine must not come back with
      // a completion record or cache entry gone (or, worse, a record whose output is gone).
      fsyncDir(path.dirname(this.target));
    } catch (e) {
      this.abort();
      throw e;
    }
    return { path: this.target, sha256: this.hash.digest('hex'), bytes: this.bytes };
  }

  abort(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      /* already closed */
    }
    fs.rmSync(this.tmp, { force: true });
  }
}

/** fsync a folder, so renames into it survive a power loss (a no-op where the platform cannot). */
export function fsyncDir(dir: string): void {
  let fd: number;
  try {
    fd = fs.openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fs.fsyncSync(fd);
  } catch (e) {
    // Some file systems (and Windows) refuse fsync on a folder: nothing more can be done there.
    if (!['EINVAL', 'EISDIR', 'EPERM', 'ENOTSUP', 'EBADF'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
  } finally {
    fs.closeSync(fd);
  }
}

export function writeFileAtomic(target: string, pieces: Iterable<string> | string): WrittenFile {
  const w = new AtomicFileWriter(target);
  try {
    for (const piece of typeof pieces === 'string' ? [pieces] : pieces) w.write(piece);
  } catch (e) {
    w.abort();
    throw e;
  }
  return w.commit();
}

export function writeJsonAtomic(target: string, value: unknown): WrittenFile {
  return writeFileAtomic(target, JSON.stringify(value, null, 2) + '\n');
}

export function sha256File(file: string): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    let n: number;
    while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) hash.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}
