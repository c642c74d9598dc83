/** The campaign's streamed feedback stage writes exactly what the in-memory build writes. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sha256File } from '../../activities/artifacts/atomic-file';
import { buildFeedback, ThresholdRule } from '../../activities/feedback/build';
import { readScoredSamples } from '../../activities/feedback/files';
import { formatFile } from '../../activities/feedback/formats';
import { ScoredSampleCollector } from '../../activities/feedback/scored-samples';
import { writeFeedbackStreamed } from '../../activities/feedback/streamed';
import type { CampaignConfig } from '../../activities/campaign/schema';
import { quickstartSamples, tmpDir } from '../helpers/paths';

/** Scored shards of 3 prompts each, with deterministic rewards, a tie, an unlabelled and a non-finite sample. */
function shards(dir: string, spanning = false) {
  const recs = (quickstartSamples(12) as Record<string, unknown>[]).map((r, i) => ({
    ...r,
    reward: i % 17 === 5 ? null : i % 23 === 7 ? NaN : Math.sin(i * 1.7) + (i % 5 === 0 ? 0.25 : 0),
    label_status: i % 17 === 5 ? 'timeout' : i % 23 === 7 ? 'non_finite' : 'ok',
  }));
  const byPrompt = new Map<unknown, typeof recs>();
  for (const r of recs) byPrompt.set((r as Record<string, unknown>).prompt_id, [...(byPrompt.get((r as Record<string, unknown>).prompt_id) ?? []), r]);
  const groups = [...byPrompt.values()];
  const files: string[] = [];
  for (let k = 0; k * 3 < groups.length; k++) {
    const file = path.join(dir, `shard-${k}.jsonl`);
    let lines = groups.slice(k * 3, k * 3 + 3).flat();
    if (spanning && k === 1) lines = [...lines, groups[0][0]]; // a prompt of shard 0 again
    // NaN as the bare literal some scorers write (accepted on input as a non-finite reward).
    fs.writeFileSync(
      file,
      lines.map((l) => JSON.stringify({ ...l, reward: Number.isNaN(l.reward) ? '__NaN__' : l.reward }).replace('"__NaN__"', 'NaN')).join('\n') + '\n',
    );
    files.push(file);
  }
  return files.map((p) => ({ path: p, sha256: sha256File(p), count: 0, bytes: 0 }));
}

const cases: [string, CampaignConfig['feedback']][] = [
  ['pairwise max', { type: 'pairwise', mode: 'max', threshold: 0.01, perPrompt: false, seed: 3 }],
  ['pairwise random', { type: 'pairwise', mode: 'random', threshold: 0.05, perPrompt: false, seed: 9 }],
  ['pairwise min', { type: 'pairwise', mode: 'min', threshold: 0, perPrompt: false, seed: 1 }],
  ['binary median', { type: 'binary', threshold: 'median', perPrompt: false, seed: 0 }],
  ['binary mean per prompt', { type: 'binary', threshold: 'mean', perPrompt: true, seed: 0 }],
  ['scalar', { type: 'scalar', perPrompt: false, seed: 0 }],
];

describe.each([false, true])('streamed feedback (a prompt spanning shards: %s)', (spanning) => {
  test.each(cases)('%s: the three files and the statistics equal the in-memory build', async (_name, f) => {
    const dir = tmpDir('alignloop-streamed-');
    const refs = shards(dir, spanning);
    const out = await writeFeedbackStreamed(f, refs, path.join(dir, 'out'));
    const all = new ScoredSampleCollector('x');
    for (const r of refs) await readScoredSamples(r.path, all);
    const ref = buildFeedback(all.groups, {
      type: f.type,
      mode: f.mode,
      threshold: f.threshold as ThresholdRule | undefined,
      thresholdScope: f.perPrompt ? 'prompt' : 'global',
      seed: f.seed,
    });
    expect(out.stats).toEqual(ref.stats);
    expect(ref.examples.length).toBeGreaterThan(3);
    for (const [fmt, key, name] of [
      ['jsonl', 'jsonl', 'feedback.jsonl'],
      ['halos', 'halos', 'feedback.halos.json'],
      ['trl', 'trl', 'feedback.trl.jsonl'],
    ] as const) {
      const expected = [...formatFile(ref.examples, fmt)].join('');
      expect(fs.readFileSync(path.join(dir, 'out', name), 'utf8')).toBe(expected);
      expect(out.files![key].count).toBe(ref.examples.length);
    }
    expect(fs.readdirSync(path.join(dir, 'out')).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });
});
