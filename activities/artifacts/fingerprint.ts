/**
 * The identity of a folder (a model, a checkpoint) or a single file: the sha256 of every file, and
 * one sha256 over the sorted (relative path, sha256) list. Hashing a multi-GB model on every use
 * would cost more than using it, so a file's hash is reused while its size and mtime hold.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sha256File } from './atomic-file';

export interface Fingerprint {
  /** sha256 over the sorted (file, sha256) list. */
  sha256: string;
  files: Record<string, string>;
}

const hashes = new Map<string, { size: number; mtimeMs: number; sha256: string }>();

function fileSha(file: string): string {
  const st = fs.statSync(file);
  const hit = hashes.get(file);
  if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit.sha256;
  const sha256 = sha256File(file);
  hashes.set(file, { size: st.size, mtimeMs: st.mtimeMs, sha256 });
  return sha256;
}

/** A folder's files (recursively), or one file under its base name. */
export function fingerprint(target: string): Fingerprint {
  const files: Record<string, string> = {};
  if (fs.statSync(target).isFile()) files[path.basename(target)] = fileSha(target);
  else {
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.isFile()) files[path.relative(target, p)] = fileSha(p);
      }
    };
    walk(target);
  }
  const h = createHash('sha256');
  for (const [f, sha] of Object.entries(files)) h.update(`${f}\u0000${sha}\n`);
  return { sha256: h.digest('hex'), files };
}

/** "file: abc -> def, …" for the first few files that differ. */
export function describeChange(a: Fingerprint, b: Fingerprint): string {
  const names = new Set([...Object.keys(a.files), ...Object.keys(b.files)]);
  const changes = [...names]
    .filter((n) => a.files[n] !== b.files[n])
    .map((n) => `${n}: ${a.files[n]?.slice(0, 12) ?? 'absent'} -> ${b.files[n]?.slice(0, 12) ?? 'absent'}`);
  return changes.slice(0, 4).join(', ') + (changes.length > 4 ? `, … (${changes.length} files)` : '');
}
