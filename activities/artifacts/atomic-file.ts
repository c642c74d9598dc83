/**
 * Atomic file writes: content goes to a temp file beside the target, is fsync'd, then renamed
 * over it, so a reader (or a retried activity) sees the whole file or none of it.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface WrittenFile {
  path: string;
  sha256: string;
  bytes: number;
}

const FLUSH_AT = 1 << 20;

/** Write the pieces atomically; returns the sha256 and size of what was written. */
export function writeFileAtomic(target: string, pieces: Iterable<string> | string): WrittenFile {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
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
