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
export function writeFileAtomic(target: string, pieces: Iterable<string> | string): WrittenFile {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  removeStaleTemps(target);
  const tmp = `${target}.tmp-${HOST}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const hash = createHash('sha256');
  let bytes = 0;
  const fd = fs.openSync(tmp, 'w');
  try {
    let buf: string[] = [];
    let buffered = 0;
    const flush = () => {
      if (buffered === 0) return;
      const b = Buffer.from(buf.join(''), 'utf8');
      hash.update(b);
      fs.writeSync(fd, b);
      bytes += b.length;
      buf = [];
      buffered = 0;
    };
    for (const piece of typeof pieces === 'string' ? [pieces] : pieces) {
      buf.push(piece);
      buffered += piece.length;
      if (buffered >= FLUSH_AT) flush();
    }
    flush();
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, target);
  } catch (e) {
    try {
      fs.closeSync(fd);
    } catch {
      /* already closed */
    }
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  return { path: target, sha256: hash.digest('hex'), bytes };
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
