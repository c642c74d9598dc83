/**
 * A reward model's identity: the sha256 of every file in its folder. The first fingerprint a campaign
 * sees is recorded in <campaign>/labeler.json; a later shard scored with a different model is
 * refused (or, with labeler.allowModelChange, recorded there as a new labeler version).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ArtifactError } from '../../config/errors';
import { sha256File, writeJsonAtomic } from '../artifacts/atomic-file';

export interface ModelFingerprint {
  /** sha256 over the sorted (file, sha256) list. */
  sha256: string;
  files: Record<string, string>;
}

interface LabelerRecord {
  versions: (ModelFingerprint & { firstIteration: number })[];
}

// Hashing a multi-GB model once per shard would cost more than scoring it: reuse a file's hash while its size and mtime hold.
const hashes = new Map<string, { size: number; mtimeMs: number; sha256: string }>();

function fileSha(file: string): string {
  const st = fs.statSync(file);
  const hit = hashes.get(file);
  if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit.sha256;
  const sha256 = sha256File(file);
  hashes.set(file, { size: st.size, mtimeMs: st.mtimeMs, sha256 });
  return sha256;
}

export function modelFingerprint(dir: string): ModelFingerprint {
  const files: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) files[path.relative(dir, p)] = fileSha(p);
    }
  };
  walk(dir);
  const h = createHash('sha256');
  for (const [f, sha] of Object.entries(files)) h.update(`${f}\u0000${sha}\n`);
  return { sha256: h.digest('hex'), files };
}

function describeChange(a: ModelFingerprint, b: ModelFingerprint): string {
  const names = new Set([...Object.keys(a.files), ...Object.keys(b.files)]);
  const changes = [...names]
    .filter((n) => a.files[n] !== b.files[n])
    .map((n) => `${n}: ${a.files[n]?.slice(0, 12) ?? 'absent'} -> ${b.files[n]?.slice(0, 12) ?? 'absent'}`);
  return changes.slice(0, 4).join(', ') + (changes.length > 4 ? `, … (${changes.length} files)` : '');
}

/**
 * Checks `fp` against the campaign's recorded labeler (recording it the first time). Returns the
 * version number the shard is labeled with (1 for the campaign's first model).
 */
export function checkLabelerIdentity(recordFile: string, modelDir: string, fp: ModelFingerprint, iteration: number, allowChange: boolean): number {
  let rec: LabelerRecord = { versions: [] };
  if (fs.existsSync(recordFile)) rec = JSON.parse(fs.readFileSync(recordFile, 'utf8')) as LabelerRecord;
  const known = rec.versions.findIndex((v) => v.sha256 === fp.sha256);
  if (known >= 0) return known + 1;
  if (rec.versions.length > 0 && !allowChange) {
    const first = rec.versions[rec.versions.length - 1];
    throw new ArtifactError(
      `the reward model in ${modelDir} changed since this campaign recorded it (${describeChange(first, fp)}); restore the recorded files, ` +
        'or start the campaign with labeler.allowModelChange: true to record a changed model as a new labeler version',
    );
  }
  rec.versions.push({ ...fp, firstIteration: iteration });
  writeJsonAtomic(recordFile, rec);
  return rec.versions.length;
}
