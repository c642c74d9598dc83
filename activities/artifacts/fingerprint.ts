/**
 * The identity of a folder (a model, a checkpoint) or a single file: the sha256 of every file, and
 * one sha256 over the (relative path, sha256) list in walk order. Symbolic links are followed. Hashing a multi-GB model on every use
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
  /**
   * Files reached through a symbolic link: the link's text (a Hugging Face hub snapshot links every
   * file into blobs/). Informational: a linked and a copied folder of the same files are one identity.
   */
  links?: Record<string, string>;
}

const hashes = new Map<string, { size: number; mtimeMs: number; sha256: string }>();

export function fileSha(file: string): string {
  const st = fs.statSync(file);
  const hit = hashes.get(file);
  if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit.sha256;
  const sha256 = sha256File(file);
  hashes.set(file, { size: st.size, mtimeMs: st.mtimeMs, sha256 });
  return sha256;
}

/** What a dangling link's entry is: its identity changes when the link is fixed (or retargeted). */
const DANGLING = 'dangling-link:';

/**
 * A folder's files (recursively, following symbolic links to files and folders), or one file under
 * its base name. A file is hashed through its real path, so a swapped blob behind a link is seen.
 */
export function fingerprint(target: string): Fingerprint {
  const files: Record<string, string> = {};
  const links: Record<string, string> = {};
  if (fs.statSync(target).isFile()) {
    files[path.basename(target)] = fileSha(fs.realpathSync(target));
    if (fs.lstatSync(target).isSymbolicLink()) links[path.basename(target)] = fs.readlinkSync(target);
  } else {
    const onPath = new Set<string>(); // real folders being walked: a link back up is not followed again
    const walk = (d: string) => {
      const real = fs.realpathSync(d);
      if (onPath.has(real)) return;
      onPath.add(real);
      for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const p = path.join(d, e.name);
        const rel = path.relative(target, p);
        let st: fs.Stats | null = null;
        if (e.isSymbolicLink()) {
          links[rel] = fs.readlinkSync(p);
          try {
            st = fs.statSync(p);
          } catch {
            files[rel] = `${DANGLING}${links[rel]}`;
            continue;
          }
        }
        if (st ? st.isDirectory() : e.isDirectory()) walk(p);
        else if (st ? st.isFile() : e.isFile()) files[rel] = fileSha(fs.realpathSync(p));
      }
      onPath.delete(real);
    };
    walk(target);
  }
  return withSha(files, Object.keys(links).length ? links : undefined);
}

/** The identity of a (file -> sha256) list, in its order (the walk's: identities recorded before stay valid). */
export function withSha(files: Record<string, string>, links?: Record<string, string>): Fingerprint {
  const h = createHash('sha256');
  for (const [f, sha] of Object.entries(files)) h.update(`${f}\u0000${sha}\n`);
  return { sha256: h.digest('hex'), files, ...(links ? { links } : {}) };
}

/** "file: abc -> def, …" for the first few files that differ. */
export function describeChange(a: Fingerprint, b: Fingerprint): string {
  const names = new Set([...Object.keys(a.files), ...Object.keys(b.files)]);
  const changes = [...names]
    .filter((n) => a.files[n] !== b.files[n])
    .map((n) => `${n}: ${a.files[n]?.slice(0, 12) ?? 'absent'} -> ${b.files[n]?.slice(0, 12) ?? 'absent'}`);
  return changes.slice(0, 4).join(', ') + (changes.length > 4 ? `, … (${changes.length} files)` : '');
}
