/**
 * What decides which folders alignloop moves or deletes: trainer.checkpointSubdir must stay inside
 * {{output_dir}}, and trainer.keepCheckpoints / history order iterations as numbers (iter-1000 after
 * iter-999). Real folders in a temp dir.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sha256File, writeFileAtomic } from '../../activities/artifacts/atomic-file';
import { iterationDir, markComplete } from '../../activities/artifacts/store';
import { checkpointSubdirProblem, producedOutsideProblem } from '../../activities/trainers/checkpoint-subdir';
import { pruneCheckpoints } from '../../activities/trainers/retention';
import { readManifests } from '../../activities/audit/manifests';
import { tmpDir } from '../helpers/paths';

describe('trainer.checkpointSubdir stays inside {{output_dir}}', () => {
  test.each(['.', 'final', '{{exp_name}}/FINAL', '{{output_dir}}', '{{output_dir}}/final', 'a/../b', '{{mine}}'])('%s is accepted by validate', (s) => {
    expect(checkpointSubdirProblem(s)).toBeNull();
  });

  test.each([
    ['/home/me/model', /absolute path/],
    ['..', /climbs out/],
    ['../../my-model', /climbs out/],
    ['final/../../x', /climbs out/],
    ['{{policy.path}}', /\{\{policy.path\}\} is a path outside it/],
    ['{{reference.path}}/final', /\{\{reference.path\}\}/],
    ['{{work_dir}}', /\{\{work_dir\}\}/],
    ['final/{{output_dir}}', /\{\{output_dir\}\}/],
  ])('%s is refused by validate, saying how to fix it', (s, why) => {
    const p = checkpointSubdirProblem(s);
    expect(p).toMatch(why);
    expect(p).toMatch(/give a folder relative to \{\{output_dir\}\}/);
  });

  test('at run time: a rendered path outside the output folder, or a symlink out of it, is refused', () => {
    const dir = tmpDir('alignloop-subdir-');
    const out = path.join(dir, 'attempts', '1', 'out');
    const mine = path.join(dir, 'my-model');
    fs.mkdirSync(out, { recursive: true });
    fs.mkdirSync(mine);
    expect(producedOutsideProblem(out, out)).toBeNull();
    expect(producedOutsideProblem(out, path.join(out, 'x', 'FINAL'))).toBeNull(); // not there yet: checked before training
    fs.symlinkSync(out, path.join(dir, 'out-link'));
    expect(producedOutsideProblem(path.join(dir, 'out-link'), path.join(dir, 'out-link', 'x'))).toBeNull();
    expect(producedOutsideProblem(out, mine)).toMatch(/renders to .*my-model, which is not inside the trainer's output folder/);
    expect(producedOutsideProblem(out, path.resolve(out, '..'))).toMatch(/not inside/);
    fs.symlinkSync(mine, path.join(out, 'final'));
    expect(producedOutsideProblem(out, path.join(out, 'final'))).toMatch(/not inside/);
  });
});

/** A campaign folder with accepted checkpoint folders of these iterations. */
function campaignWith(iterations: number[]): { root: string; folder: (i: number) => string } {
  const root = tmpDir('alignloop-retention-');
  const folder = (i: number) => path.join(iterationDir(root, 'c', i), 'train', 'checkpoint');
  for (const i of iterations) {
    fs.mkdirSync(folder(i), { recursive: true });
    fs.writeFileSync(path.join(folder(i), 'model.safetensors'), String(i));
  }
  return { root, folder };
}

describe('iteration order past iter-999', () => {
  test('keepCheckpoints keeps the newest folders from iteration 1,000 on (numeric order, not string order)', () => {
    const { root, folder } = campaignWith([997, 998, 999, 1000, 1001, 1002]);
    const pruned = pruneCheckpoints({ root, campaignId: 'c', iteration: 1002, keep: 3, protect: [] });
    expect(pruned).toEqual([997, 998, 999].map(folder));
    expect([997, 998, 999, 1000, 1001, 1002].map((i) => fs.existsSync(folder(i)))).toEqual([false, false, false, true, true, true]);
    expect(fs.existsSync(path.join(iterationDir(root, 'c', 999), 'train', 'checkpoint.pruned.json'))).toBe(true);
    expect(fs.existsSync(path.join(iterationDir(root, 'c', 1000), 'train', 'checkpoint.pruned.json'))).toBe(false);
  });

  test('history lists iterations in numeric order', () => {
    const root = tmpDir('alignloop-history-');
    for (const i of [998, 999, 1000, 1001]) {
      const f = path.join(iterationDir(root, 'c', i), 'manifest.json');
      fs.mkdirSync(path.dirname(f), { recursive: true });
      const w = writeFileAtomic(f, JSON.stringify({ iteration: i }));
      markComplete({ path: f, sha256: sha256File(f), bytes: w.bytes, count: 1 }, {});
    }
    expect(readManifests(root, 'c').map((m) => m.iteration)).toEqual([998, 999, 1000, 1001]);
  });
});
