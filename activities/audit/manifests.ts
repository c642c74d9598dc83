/**
 * Iteration manifests read back for people (history, report, diff, audit): each checked against the
 * sha256 recorded when it was written, so an edited manifest is refused (naming the file), never
 * shown or rendered as if it were true.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ArtifactError } from '../../config/errors';
import { sha256File } from '../artifacts/atomic-file';
import { findComplete } from '../artifacts/store';

/** One manifest, parsed, after its completion record vouched for its bytes. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- manifests are JSON read back from disk
export function readCheckedManifest(file: string): any {
  file = path.resolve(file);
  if (!findComplete(file)) {
    let recorded: string | undefined;
    try {
      recorded = (JSON.parse(fs.readFileSync(`${file}.done.json`, 'utf8')) as { ref?: { sha256?: string } }).ref?.sha256;
    } catch {
      recorded = undefined;
    }
    throw new ArtifactError(
      recorded
        ? `${file} changed since it was recorded (sha256 ${sha256File(file).slice(0, 12)} != ${recorded.slice(0, 12)}); restore it from a backup`
        : `${file} has no completion record (${file}.done.json), so it cannot be trusted; restore both from a backup`,
    );
  }
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/** The finished iterations of a campaign, oldest first. */
export function manifestIterations(root: string, id: string): number[] {
  const dir = path.join(root, id);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .map((d) => /^iter-(\d+)$/.exec(d))
    .filter((m): m is RegExpExecArray => !!m && fs.existsSync(path.join(dir, m[0], 'manifest.json')))
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

export const manifestFile = (root: string, id: string, iteration: number) => path.join(root, id, `iter-${String(iteration).padStart(3, '0')}`, 'manifest.json');

/** Every manifest of a campaign, oldest first, each checked. */
export function readManifests(root: string, id: string): Record<string, unknown>[] {
  return manifestIterations(root, id).map((it) => readCheckedManifest(manifestFile(root, id, it)) as Record<string, unknown>);
}
