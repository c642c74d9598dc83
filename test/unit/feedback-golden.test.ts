import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildFeedback, PairExample, SingleExample } from '../../activities/feedback/build';
import { formatFile } from '../../activities/feedback/formats';
import { ScoredSampleCollector } from '../../activities/feedback/scored-samples';
import { groupsOf } from '../helpers/scored';
import { InputError } from '../../config/errors';
import { ROOT } from '../helpers/paths';

const pairsOf = (ex: unknown[]) => (ex as PairExample[]).map((p) => [p.a.sample_id, p.b.sample_id].sort((x, y) => x - y));

describe('pairwise max', () => {
  test('pairs best with worst, one pair per prompt', () => {
    const { examples, stats } = buildFeedback(groupsOf({ p: [0.25, 1, 0.5, 0] }), { type: 'pairwise', mode: 'max', threshold: 0 });
    expect(pairsOf(examples)).toEqual([[1, 3]]);
    const p = examples[0] as PairExample;
    expect(p.label).toBe(p.a.reward! > p.b.reward! ? 1 : 0);
    expect(stats.mean_margin).toBe(1);
  });
  test('a gap equal to the threshold is dropped (strictly greater needed)', () => {
    const { examples, stats } = buildFeedback(groupsOf({ p: [0.25, 0.5] }), { type: 'pairwise', mode: 'max', threshold: 0.25 });
    expect(examples).toHaveLength(0);
    expect(stats.prompts_dropped_by_threshold).toBe(1);
    expect(stats.empty_reason).toBe('0 pairs: all 1 prompts tied within threshold 0.25');
  });
  test('stable sort: among equal best rewards the first one wins', () => {
    const { examples } = buildFeedback(groupsOf({ p: [1, 0, 1] }), { type: 'pairwise', mode: 'max', threshold: 0 });
    expect(pairsOf(examples)).toEqual([[0, 1]]);
  });
});

/**
 * The feedback contract's tie rules, one golden line each (test/fixtures/feedback/pairing-ties.jsonl):
 * `case` says the rule, `pairs` the sample ids each prompt must pair (sorted), for any seed.
 */
describe('pairing ties (golden lines)', () => {
  type Golden = { case: string; mode: 'max' | 'min' | 'random'; threshold: number; rewards: number[]; pairs: number[][] };
  const golden: Golden[] = fs
    .readFileSync(path.join(ROOT, 'test', 'fixtures', 'feedback', 'pairing-ties.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  test.each(golden.map((g) => [g.case, g] as const))('%s', (_, g) => {
    for (const seed of [0, 1, 7]) {
      const { examples } = buildFeedback(groupsOf({ p: g.rewards }), { type: 'pairwise', mode: g.mode, threshold: g.threshold, seed });
      expect(pairsOf(examples).sort((x, y) => x[0] - y[0] || x[1] - y[1])).toEqual(g.pairs);
      for (const p of examples as PairExample[]) expect(p.label).toBe(p.a.reward! > p.b.reward! ? 1 : 0);
    }
  });
});

describe('pairwise min', () => {
  test('t = 0: ties and self-pairs never pair; every pair at the smallest positive gap', () => {
    const { examples } = buildFeedback(groupsOf({ p: [1, 1, 2, 4] }), { type: 'pairwise', mode: 'min', threshold: 0 });
    expect(pairsOf(examples)).toEqual([
      [0, 2],
      [1, 2],
    ]);
  });
  test('t > 0: smallest gap at least t', () => {
    const { examples } = buildFeedback(groupsOf({ p: [1, 1, 2, 4] }), { type: 'pairwise', mode: 'min', threshold: 1.5 });
    expect(pairsOf(examples)).toEqual([[2, 3]]);
  });
  test('a gap exactly equal to t is admissible in min mode', () => {
    const { examples } = buildFeedback(groupsOf({ p: [0, 0.5, 2] }), { type: 'pairwise', mode: 'min', threshold: 0.5 });
    expect(pairsOf(examples)).toEqual([[0, 1]]);
  });
  test('prompt skipped when max - min <= t', () => {
    const { examples, stats } = buildFeedback(groupsOf({ p: [0, 0.5, 0.25] }), { type: 'pairwise', mode: 'min', threshold: 0.5 });
    expect(examples).toHaveLength(0);
    expect(stats.prompts_dropped_by_threshold).toBe(1);
  });
  test('all tied with t = 0: no pairs', () => {
    const { examples, stats } = buildFeedback(groupsOf({ p: [3, 3, 3], q: [1, 1] }), { type: 'pairwise', mode: 'min', threshold: 0 });
    expect(examples).toHaveLength(0);
    expect(stats.empty_reason).toBe('0 pairs: all 2 prompts tied within threshold 0');
  });
});

describe('pairwise random', () => {
  test('odd group: floor(k/2) candidates, leftover counted', () => {
    const { examples, stats } = buildFeedback(groupsOf({ p: [0, 1, 2, 3, 4] }), { type: 'pairwise', mode: 'random', threshold: 0, seed: 7 });
    expect(examples).toHaveLength(2);
    expect(stats.samples_unpaired_odd).toBe(1);
    const used = pairsOf(examples).flat();
    expect(new Set(used).size).toBe(4);
  });
  test('ties in random pairs are dropped and counted', () => {
    const { examples, stats } = buildFeedback(groupsOf({ p: [1, 1, 1, 1] }), { type: 'pairwise', mode: 'random', threshold: 0 });
    expect(examples).toHaveLength(0);
    expect(stats.pairs_dropped_by_threshold).toBe(2);
  });
});

describe('skips and unlabelled', () => {
  test('single-sample prompts, null rewards and NaN are excluded and counted', () => {
    const { examples, stats } = buildFeedback(groupsOf({ a: [0.5], b: [1, null, 'nan', 2], c: [null, 3] }), { type: 'pairwise', threshold: 0 });
    expect(pairsOf(examples)).toEqual([[0, 3]]);
    expect(stats.non_finite).toBe(1);
    expect(stats.unlabelled).toEqual({ judge_failed: 2 });
    expect(stats.prompts_skipped_too_few_labelled).toBe(2);
    expect(stats.samples_in).toBe(7);
    expect(stats.labelled).toBe(4);
    expect(stats.reward).toEqual({ mean: 1.625, std: expect.any(Number), min: 0.5, max: 3 });
  });
  test('a numeric reward with a failure label_status is unlabelled, never a score', () => {
    const c = new ScoredSampleCollector('x.jsonl');
    c.addLine('{"prompt_id":"p","prompt":[{"role":"user","content":"q"}],"output":"o","reward":0,"label_status":"judge_timeout"}', 1);
    const { stats } = buildFeedback(c.groups, { type: 'scalar' });
    expect(stats.unlabelled).toEqual({ judge_timeout: 1 });
    expect(stats.examples_out).toBe(0);
  });
});

describe('binary', () => {
  const labels = (ex: unknown[]) => (ex as SingleExample[]).map((e) => e.label);
  test('mean threshold over all rewards, global', () => {
    const { examples, stats } = buildFeedback(groupsOf({ p: [1, 2], q: [3, 4] }), { type: 'binary', threshold: 'mean' });
    expect(stats.threshold).toBe(2.5);
    expect(labels(examples)).toEqual([0, 0, 1, 1]);
  });
  test('median: ties at the threshold are desirable; single-sample prompts emitted', () => {
    const { examples, stats } = buildFeedback(groupsOf({ p: [1], q: [2, 3] }), { type: 'binary', threshold: 'median' });
    expect(stats.threshold).toBe(2);
    expect(labels(examples)).toEqual([0, 1, 1]);
  });
  test('even count median averages the middle two', () => {
    const { stats } = buildFeedback(groupsOf({ p: [4, 1, 3, 2] }), { type: 'binary', threshold: 'median' });
    expect(stats.threshold).toBe(2.5);
  });
  test('a fractional numeric threshold works (the reference crashes on 0.5)', () => {
    const { examples } = buildFeedback(groupsOf({ p: [0.25, 0.5, 0.75] }), { type: 'binary', threshold: 0.5 });
    expect(labels(examples)).toEqual([0, 1, 1]);
  });
  test('per-prompt mean', () => {
    const { examples } = buildFeedback(groupsOf({ p: [1, 3], q: [10, 30] }), { type: 'binary', threshold: 'mean', thresholdScope: 'prompt' });
    expect(labels(examples)).toEqual([0, 1, 0, 1]);
  });
});

describe('options', () => {
  test('pairwise rejects mean/median and negative thresholds', () => {
    expect(() => buildFeedback(groupsOf({ p: [1, 2] }), { type: 'pairwise', threshold: 'median' })).toThrow(/numeric threshold/);
    expect(() => buildFeedback(groupsOf({ p: [1, 2] }), { type: 'pairwise', threshold: -1 })).toThrow(/>= 0/);
  });
  test('pairwise without a threshold defaults to 0 and says so', () => {
    const { stats } = buildFeedback(groupsOf({ p: [1, 2] }), { type: 'pairwise' });
    expect(stats.threshold).toBe(0);
    expect(stats.notes.join()).toMatch(/uses 0/);
  });
});

describe('formats', () => {
  const text = (g: ReturnType<typeof groupsOf>, type: 'pairwise' | 'binary' | 'scalar', format: 'halos' | 'trl' | 'jsonl') =>
    [...formatFile(buildFeedback(g, { type, threshold: type === 'pairwise' ? 0 : undefined, seed: 3 }).examples, format)].join('');

  test('HALOs pairwise is a JSON array with the exact keys in order', () => {
    const arr = JSON.parse(text(groupsOf({ p: [0, 1], q: [2, 5] }), 'pairwise', 'halos'));
    expect(Array.isArray(arr)).toBe(true);
    for (const r of arr) {
      expect(Object.keys(r)).toEqual(['prompt_id', 'prompt', 'output_A', 'output_B', 'label', 'reward_A', 'reward_B', 'reward_difference', 'type']);
      expect(r.output_A).toEqual([{ role: 'assistant', content: expect.any(String) }]);
      expect(r.reward_difference).toBe(Math.abs(r.reward_A - r.reward_B));
      expect(r.label).toBe(r.reward_A > r.reward_B ? 1 : 0);
    }
  });
  test('HALOs binary keys in order; labels are integers', () => {
    const arr = JSON.parse(text(groupsOf({ p: [0, 1] }), 'binary', 'halos'));
    expect(arr.map((r: object) => Object.keys(r))).toEqual([
      ['prompt_id', 'prompt', 'output', 'label', 'reward', 'type'],
      ['prompt_id', 'prompt', 'output', 'label', 'reward', 'type'],
    ]);
    expect(arr.map((r: { label: number }) => r.label)).toEqual([0, 1]);
  });
  test('TRL pairwise: chosen is the higher reward', () => {
    const lines = text(groupsOf({ p: [0, 1], q: [5, 2], r: [7, 9] }), 'pairwise', 'trl')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3);
    for (const l of lines) {
      expect(Object.keys(l)).toEqual(['prompt', 'chosen', 'rejected', 'score_chosen', 'score_rejected']);
      expect(l.score_chosen).toBeGreaterThan(l.score_rejected);
    }
    expect(lines[1].chosen[0].content).toBe('a0');
  });
  test('TRL binary has boolean labels; scalar carries reward', () => {
    const b = text(groupsOf({ p: [0, 1] }), 'binary', 'trl')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(b.map((r) => r.label)).toEqual([false, true]);
    const s = text(groupsOf({ p: [0.5] }), 'scalar', 'trl')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(s).toEqual([{ prompt: [{ role: 'user', content: 'q p' }], completion: [{ role: 'assistant', content: 'a0' }], reward: 0.5 }]);
  });
  test('native JSONL traces every pair to its samples', () => {
    const l = JSON.parse(text(groupsOf({ p: [0, 1] }), 'pairwise', 'jsonl').trim());
    expect(l.sample_ids.slice().sort()).toEqual([0, 1]);
    expect(l.sample_ids[0]).toBe(l.swapped ? 0 : 1); // max mode: A = best (sample 1) unless swapped
    expect(l).toMatchObject({ iteration: 0, threshold: 0, type: 'pairwise_feedback' });
  });
  test('empty HALOs array is still valid JSON', () => {
    expect(JSON.parse(text(groupsOf({ p: [1, 1] }), 'pairwise', 'halos'))).toEqual([]);
  });
});

describe('input validation', () => {
  const add = (line: string, c = new ScoredSampleCollector('in.jsonl')) => c.addLine(line, 4);
  test.each([
    ['{"prompt":[{"role":"user","content":"q"}],"output":"o","reward":1}', /in\.jsonl:4: missing prompt_id/],
    ['{"prompt_id":"p","output":"o","reward":1}', /in\.jsonl:4: missing prompt/],
    ['{"prompt_id":"p","prompt":[{"role":"user","content":"q"}],"reward":1}', /in\.jsonl:4: missing output/],
    ['{"prompt_id":"p","prompt":[{"role":"user","content":"q"}],"output":"o","reward":"1"}', /reward must be a number or null/],
    ['{"prompt_id":"p","prompt":[{"role":"user","content":"q"}],"output":"o"}', /missing reward/],
    ['{"prompt_id":"p",', /in\.jsonl:4: not valid JSON/],
    ['[1,2]', /expected a JSON object/],
  ])('%s', (line, msg) => {
    expect(() => add(line)).toThrow(InputError);
    expect(() => add(line)).toThrow(msg);
  });
  test('samples of one prompt_id that disagree on the prompt', () => {
    const c = new ScoredSampleCollector('in.jsonl');
    c.addLine('{"prompt_id":"p","prompt":[{"role":"user","content":"q"}],"output":"o","reward":1}', 1);
    expect(() => c.addLine('{"prompt_id":"p","prompt":[{"role":"user","content":"other"}],"output":"o","reward":1}', 2)).toThrow(
      /in\.jsonl:2: prompt_id p has a different prompt than on line 1/,
    );
  });
  test('Infinity and -Infinity literals become non_finite, string contents untouched', () => {
    const c = new ScoredSampleCollector('in.jsonl');
    c.addLine('{"prompt_id":"p","prompt":[{"role":"user","content":"say NaN and Infinity"}],"output":"o","reward":-Infinity}', 1);
    const [s] = c.groups.get('p')!;
    expect(s.label_status).toBe('non_finite');
    expect(s.prompt[0].content).toBe('say NaN and Infinity');
  });
});
