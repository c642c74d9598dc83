/** Streams bytes to a file while hashing them, then fsyncs it: one pass for both. */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Progress } from './artifact-store';

export async function hashingCopy(src: Readable, dest: string, total: number, progress?: Progress): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      progress?.(bytes, total);
      done(null, chunk);
    },
  });
  const out = fs.createWriteStream(dest);
  await pipeline(src, tap, out);
  const fd = fs.openSync(dest, 'r+');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return { sha256: hash.digest('hex'), bytes };
}
