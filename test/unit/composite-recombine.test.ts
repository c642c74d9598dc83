/** The combine step from members' files on disk: other weights recombine without touching a member's results. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../../activities/artifacts/atomic-file';
import { findComplete, markComplete, shardFile } from '../../activities/artifacts/store';
import { combineCompositeIteration, compositeStatsFile } from '../../activities/labelers/composite/combine-shards';
import { CompositeLabelerSchema } from '../../activities/labelers/composite/config';
import { memberFile } from '../../activities/labelers/composite/member-files';
import { tmpDir } from '../helpers/paths';

const ref = (w: { path: string; sha256: string; bytes: number }, count: number) => ({ ...w, count });

function layout(root: string) {
  const samples = [0, 1, 2, 3].map((i) => ({
    prompt_id: `p${i >> 1}`,
    sample_id: i % 2,
    prompt: [{ role: 'user', content: `What is ${i} + 1?` }],
    output: `${i + (i === 3 ? 5 : 1)}`,
  }));
  // one shard of four samples; the gate fails the last one, so the others were not asked about it
  const s = writeFileAtomic(
    shardFile(root, 'c', 0, 'samples', 0),
    samples.map((r) => JSON.stringify(r) + '\n'),
  );
  markComplete(ref(s, 4), {});
  const scope = { root, campaignId: 'c', iteration: 0, shard: 0 };
  const member = (name: string, rows: Record<string, unknown>[]) => {
    const w = writeFileAtomic(
      memberFile(scope, name),
      rows.map((r) => JSON.stringify(r) + '\n'),
    );
    markComplete(ref(w, rows.length), { samples: rows.length, labelled: rows.length, unlabelled: {}, truncated: 0, batchesResumed: 0 });
  };
  member(
    'math',
    samples.map((r, i) => ({ ...r, reward: i === 3 ? 0 : 1, label_status: 'ok', verifier_pass: i !== 3 })),
  );
  member(
    'rm',
    samples.slice(0, 3).map((r, i) => ({ ...r, reward: [0.5, -0.5, 2][i], label_status: 'ok' })),
  );
  member(
    'judge',
    samples.slice(0, 3).map((r, i) => ({ ...r, reward: [2, 8, 5][i], label_status: 'ok' })),
  );
}

const config = (rmWeight: number) =>
  CompositeLabelerSchema.parse({
    kind: 'composite',
    combine: 'gate-then-weighted',
    members: [
      { name: 'math', gate: true, labeler: { kind: 'verifier', command: ['check', '{{in}}', '{{out}}'] } },
      {
        name: 'rm',
        weight: rmWeight,
        normalize: 'none',
        labeler: { kind: 'reward-server', protocol: 'vllm', baseURL: 'http://127.0.0.1:1', model: 'rm', chatTemplate: 't.jinja' },
      },
      { name: 'judge', weight: 1, normalize: 'minmax', labeler: { kind: 'judge', baseURL: 'http://127.0.0.1:1/v1', model: 'j' } },
    ],
  });

test('the scored shard holds every member, the gate and the combined reward; new weights recombine, members untouched', async () => {
  const root = tmpDir();
  layout(root);
  const members = ['math', 'rm', 'judge'].map((m) => memberFile({ root, campaignId: 'c', iteration: 0, shard: 0 }, m));
  const before = members.map((f) => [fs.readFileSync(f, 'utf8'), fs.statSync(`${f}.done.json`).mtimeMs]);

  const a = await combineCompositeIteration(config(1), root, 'c', 0, 1);
  const scored = () =>
    fs
      .readFileSync(shardFile(root, 'c', 0, 'scored', 0), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
  // judge minmax over 2, 8, 5: 0, 1, 0.5; weighted mean with rm (none): (0.5 + 0) / 2, (-0.5 + 1) / 2, (2 + 0.5) / 2
  expect(scored().map((r) => r.reward)).toEqual([0.25, 0.25, 1.25, null]);
  expect(scored()[3]).toMatchObject({
    label_status: 'gate_failed',
    label_error: 'math failed it',
    composite: { gate: 'fail', members: { rm: { asked: false }, judge: { asked: false } } },
  });
  expect(scored()[1].composite.members.judge).toEqual({ raw: 8, norm: 1, status: 'ok' });
  expect(findComplete(shardFile(root, 'c', 0, 'scored', 0))?.extra).toMatchObject({ samples: 4, labelled: 3, unlabelled: { gate_failed: 1 } });
  expect(a.notAsked).toEqual({ rm: 1, judge: 1 });
  expect(a.identities.math).toEqual({ kind: 'verifier', argv: ['check', '{{in}}', '{{out}}'], files_sha256: null });

  // the same settings: nothing is redone
  const statsAt = fs.statSync(compositeStatsFile(root, 'c', 0)).mtimeMs;
  await combineCompositeIteration(config(1), root, 'c', 0, 1);
  expect(fs.statSync(compositeStatsFile(root, 'c', 0)).mtimeMs).toBe(statsAt);

  // other weights: recombined from the same member results
  const b = await combineCompositeIteration(config(3), root, 'c', 0, 1);
  expect(b.settingsSha256).not.toBe(a.settingsSha256);
  expect(scored().map((r) => r.reward)).toEqual([0.375, -0.125, 1.625, null]);
  expect(members.map((f) => [fs.readFileSync(f, 'utf8'), fs.statSync(`${f}.done.json`).mtimeMs])).toEqual(before);
});

test('a member shard without its completion record is an error that says what to do, not a silent gap', async () => {
  const root = tmpDir();
  layout(root);
  fs.rmSync(`${memberFile({ root, campaignId: 'c', iteration: 0, shard: 0 }, 'judge')}.done.json`);
  await expect(combineCompositeIteration(config(1), root, 'c', 0, 1)).rejects.toThrow(
    /member judge's results for shard 0 of iteration 0 .* have no valid completion record: resume to redo them/,
  );
  expect(fs.existsSync(path.join(root, 'c', 'iter-000', 'scored'))).toBe(false);
});
