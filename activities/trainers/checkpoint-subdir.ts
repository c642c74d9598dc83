/**
 * trainer.checkpointSubdir names the folder inside {{output_dir}} that alignloop moves into the
 * artifacts as the accepted checkpoint (deleting the trainer's checkpoint-N/ folders in it). A folder
 * outside {{output_dir}} (absolute, `..`, a path placeholder, a symlink out) would be a user's own
 * folder moved and emptied, so it is refused: by `validate` from the template, and at run time from
 * the rendered path.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { placeholdersOf } from '../process/argv-template';

/** Placeholders that render to paths outside {{output_dir}}. */
const OUTSIDE = ['policy.path', 'reference.path', 'feedback.halos', 'feedback.trl', 'feedback.jsonl', 'config', 'work_dir'];

const HOW = 'give a folder relative to {{output_dir}} (e.g. "final" or "{{exp_name}}/FINAL"; "." for {{output_dir}} itself)';

/** Why the checkpointSubdir template cannot name a folder inside {{output_dir}}, or null. */
export function checkpointSubdirProblem(subdir: string): string | null {
  // A leading {{output_dir}} is the folder itself; anywhere else it makes the path absolute.
  const rest = subdir.replace(/^\{\{\s*output_dir\s*\}\}(\/|$)/, '');
  const outside = placeholdersOf([rest]).filter((v) => OUTSIDE.includes(v) || v === 'output_dir');
  const text = rest.replace(/\{\{[^}]*\}\}/g, 'x');
  const climbs = path.posix.normalize(text.replace(/\\/g, '/')).split('/')[0] === '..';
  if (outside.length === 0 && !path.isAbsolute(text) && !climbs) return null;
  const why = outside.length ? `{{${outside[0]}}} is a path outside it` : path.isAbsolute(text) ? 'it is an absolute path' : 'it climbs out with ".."';
  return `${JSON.stringify(subdir)} is not inside {{output_dir}} (${why}): alignloop moves that folder into the artifacts and deletes the checkpoint-N/ folders in it; ${HOW}`;
}

/** Why the rendered checkpoint folder is not inside the attempt's output folder (symlinks resolved), or null. */
export function producedOutsideProblem(outputDir: string, produced: string): string | null {
  const inside = (dir: string, p: string) => {
    const rel = path.relative(dir, p);
    return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
  };
  // Symlinks resolved; for a path not there yet (checked before the trainer runs), those of its nearest existing folder.
  const real = (p: string): string => {
    try {
      return fs.realpathSync(p);
    } catch {
      const up = path.dirname(p);
      return up === p ? p : path.join(real(up), path.basename(p));
    }
  };
  if (inside(outputDir, produced) && inside(real(outputDir), real(produced))) return null;
  return (
    `trainer.checkpointSubdir renders to ${produced}, which is not inside the trainer's output folder ${outputDir}: ` +
    `alignloop would move that folder into the artifacts and delete the checkpoint-N/ folders in it, so nothing was moved; ${HOW}`
  );
}
