/**
 * trainer.keepCheckpoints: after a checkpoint is validated and recorded, the folders of older accepted
 * checkpoints beyond the most recent N are deleted. Their descriptors stay (lineage keeps every
 * sha256), and a `checkpoint.pruned.json` record beside each says when and why, so `verify` expects the
 * folder gone. Never touched: the initial policy (outside the artifacts), the reference in use, the
 * checkpoint this iteration trained from while it is within the N, and any folder not under
 * `iter-NNN/train/checkpoint/`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../artifacts/atomic-file';
import { campaignDir } from '../artifacts/store';

export const PRUNED_FORMAT = 'alignloop-pruned/1';
export const PRUNED_NAME = 'checkpoint.pruned.json';

export interface PruneInput {
  root: string;
  campaignId: string;
  /** The iteration whose checkpoint was just accepted. */
  iteration: number;
  keep: number;
  /** Folders never deleted (the reference in use). */
  protect: string[];
}

/** iter-NNN folder names in iteration order (iter-1000 after iter-999, which a string sort gets wrong). */
export const byIteration = (a: string, b: string): number => Number(a.slice(5)) - Number(b.slice(5));

export function pruneCheckpoints(p: PruneInput): string[] {
  const dir = campaignDir(p.root, p.campaignId);
  const older = fs
    .readdirSync(dir)
    .filter((d) => /^iter-\d+$/.test(d) && Number(d.slice(5)) < p.iteration)
    .sort(byIteration)
    .map((d) => path.join(dir, d, 'train', 'checkpoint'))
    .filter((f) => fs.existsSync(f));
  const protect = new Set(p.protect.map((f) => path.resolve(f)));
  const doomed = older.slice(0, Math.max(0, older.length - (p.keep - 1))).filter((f) => !protect.has(path.resolve(f)));
  for (const folder of doomed) {
    const record = path.join(path.dirname(folder), PRUNED_NAME);
    // The record first: a crash between the two leaves a record and a folder, which the next prune finishes.
    writeFileAtomic(
      record,
      JSON.stringify({
        format: PRUNED_FORMAT,
        path: folder,
        pruned_at: new Date().toISOString(),
        by_iteration: p.iteration,
        reason: `trainer.keepCheckpoints: ${p.keep}`,
      }) + '\n',
    );
    fs.rmSync(folder, { recursive: true, force: true });
  }
  return doomed;
}

/** The folder a pruned record says was deleted on purpose, or null. */
export function prunedFolder(recordFile: string): string | null {
  try {
    const r = JSON.parse(fs.readFileSync(recordFile, 'utf8')) as { format?: string; path?: string };
    return r.format === PRUNED_FORMAT && typeof r.path === 'string' ? r.path : null;
  } catch {
    return null;
  }
}
