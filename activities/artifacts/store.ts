/**
 * Artifact layout and completion manifests. Every stage output lives at a deterministic path for
 * (campaign, iteration, stage, shard); `<file>.done.json` records its sha256 and counts, and a
 * retried activity that finds a complete, hash-valid output returns it without redoing work.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ArtifactError } from '../../config/errors';
import { samePlace } from '../store/mirror-paths';
import { sha256File, writeJsonAtomic } from './atomic-file';

/** What workflows carry instead of data. */
export interface FileRef {
  path: string;
  sha256: string;
  count: number;
  bytes: number;
}

export function campaignDir(root: string, campaignId: string): string {
  return path.join(root, campaignId);
}

export function iterationDir(root: string, campaignId: string, iteration: number): string {
  return path.join(root, campaignId, `iter-${String(iteration).padStart(3, '0')}`);
}

export function shardFile(root: string, campaignId: string, iteration: number, stage: string, shard: number, ext = 'jsonl'): string {
  return path.join(iterationDir(root, campaignId, iteration), stage, `shard-${String(shard).padStart(3, '0')}.${ext}`);
}

const doneFile = (file: string) => `${file}.done.json`;

export interface DoneManifest<E = Record<string, unknown>> {
  ref: FileRef;
  extra: E;
}

/**
 * The completed output at `file`, if its manifest exists and the file still hashes to it. A record
 * another host wrote (store-backed campaigns) names the file under that host's mirror: the ref comes
 * back with this host's path.
 */
export function findComplete<E = Record<string, unknown>>(file: string): DoneManifest<E> | null {
  const d = doneFile(file);
  if (!fs.existsSync(d) || !fs.existsSync(file)) return null;
  try {
    const m = JSON.parse(fs.readFileSync(d, 'utf8')) as DoneManifest<E>;
    if (!samePlace(m.ref.path, file) || sha256File(file) !== m.ref.sha256) return null;
    if (m.ref.path !== file) m.ref = { ...m.ref, path: file };
    return m;
  } catch {
    return null;
  }
}

export function markComplete<E>(ref: FileRef, extra: E): DoneManifest<E> {
  const m = { ref, extra };
  writeJsonAtomic(doneFile(ref.path), m);
  return m;
}

/** Checks a referenced input before use (docs/durability.md rule 7: invariants on resume). */
export function verifyRef(ref: FileRef, what: string): void {
  if (!fs.existsSync(ref.path)) throw new ArtifactError(`${what} ${ref.path} is missing (was the artifact store moved or cleaned? restore it, then resume)`);
  const sha = sha256File(ref.path);
  if (sha !== ref.sha256) {
    throw new ArtifactError(
      `${what} ${ref.path} changed since it was recorded (sha256 ${sha.slice(0, 12)} != ${ref.sha256.slice(0, 12)}): restore the recorded file, or start a new campaign`,
    );
  }
}
