import fc from 'fast-check';
import { buildFeedback, PairExample, PairMode } from '../../activities/feedback/build';
import { formatFile } from '../../activities/feedback/formats';
import { groupsOf } from '../helpers/scored';

// Rewards on a coarse grid (quarters) so ties and exact-threshold gaps are common.
const reward = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 12 }).map((n) => n / 4) },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.constant('nan' as const) },
);
const groupsArb = fc
  .dictionary(fc.string({ minLength: 1, maxLength: 6 }), fc.array(reward, { minLength: 0, maxLength: 9 }), { maxKeys: 12 })
  .filter((d) => Object.values(d).every((g) => g.length > 0));
const modeArb = fc.constantFrom<PairMode>('random', 'max', 'min');
const thresholdArb = fc.constantFrom(0, 0.25, 0.5, 1, 0.3);

describe('pairwise properties', () => {
  test('no self pairs, no ties, gaps exceed threshold, labels agree, counts add up', () => {
    fc.assert(
      fc.property(groupsArb, modeArb, thresholdArb, fc.integer(), (spec, mode, t, seed) => {
        const groups = groupsOf(spec);
        const { examples, stats } = buildFeedback(groups, { type: 'pairwise', mode, threshold: t, seed });
        const pairs = examples as PairExample[];
        for (const p of pairs) {
          expect(p.a.prompt_id).toBe(p.b.prompt_id);
          expect(p.a.sample_id).not.toBe(p.b.sample_id);
          const gap = Math.abs(p.a.reward! - p.b.reward!);
          expect(gap).toBeGreaterThan(0);
          if (mode === 'min') expect(gap).toBeGreaterThanOrEqual(t - 1e-12);
          else expect(gap).toBeGreaterThan(t);
          expect(p.label).toBe(p.a.reward! > p.b.reward! ? 1 : 0);
        }
        if (mode === 'min') {
          // Every kept pair of a prompt sits at that prompt's smallest admissible gap.
          const byPrompt = new Map<string, number[]>();
          for (const p of pairs) byPrompt.set(p.prompt_id, [...(byPrompt.get(p.prompt_id) ?? []), Math.abs(p.a.reward! - p.b.reward!)]);
          for (const [pid, gaps] of byPrompt) {
            const rs = groups
              .get(pid)!
              .filter((s) => s.label_status === 'ok')
              .map((s) => s.reward!);
            let d = Infinity;
            for (let i = 0; i < rs.length; i++)
              for (let j = i + 1; j < rs.length; j++) {
                const g = Math.abs(rs[i] - rs[j]);
                if (g > 0 && g >= t - 1e-12) d = Math.min(d, g);
              }
            for (const g of gaps) expect(Math.abs(g - d)).toBeLessThanOrEqual(1e-12);
          }
        }
        if (mode === 'max') expect(new Set(pairs.map((p) => p.prompt_id)).size).toBe(pairs.length);
        const unl = Object.values(stats.unlabelled).reduce((a, b) => a + b, 0);
        expect(stats.labelled + unl + stats.non_finite).toBe(stats.samples_in);
        expect(stats.prompts_out + stats.prompts_skipped_too_few_labelled + stats.prompts_dropped_by_threshold).toBe(stats.prompts_in);
        expect(stats.label_balance.desirable_or_a + stats.label_balance.undesirable_or_b).toBe(stats.examples_out);
        if (mode === 'random') {
          // Every labelled sample of a prompt with 2+ labelled is in a kept pair, a dropped pair, or the odd leftover.
          const eligible = [...groups.values()]
            .map((g) => g.filter((s) => s.label_status === 'ok').length)
            .filter((n) => n >= 2)
            .reduce((a, b) => a + b, 0);
          expect(2 * (stats.examples_out + stats.pairs_dropped_by_threshold) + stats.samples_unpaired_odd).toBe(eligible);
        }
      }),
      { numRuns: 300 },
    );
  });

  test('same seed and input give byte-identical output in every format', () => {
    fc.assert(
      fc.property(groupsArb, modeArb, fc.integer(), (spec, mode, seed) => {
        const run = (format: 'halos' | 'trl' | 'jsonl') =>
          [...formatFile(buildFeedback(groupsOf(spec), { type: 'pairwise', mode, threshold: 0, seed }).examples, format)].join('');
        for (const f of ['halos', 'trl', 'jsonl'] as const) expect(run(f)).toBe(run(f));
      }),
      { numRuns: 100 },
    );
  });

  test('swap rate is near 50%', () => {
    const spec: Record<string, number[]> = {};
    for (let i = 0; i < 4000; i++) spec[`p${i}`] = [i % 7, (i % 5) + 10];
    const { stats } = buildFeedback(groupsOf(spec), { type: 'pairwise', mode: 'max', threshold: 0, seed: 11 });
    expect(stats.examples_out).toBe(4000);
    expect(stats.swapped / stats.examples_out).toBeGreaterThan(0.46);
    expect(stats.swapped / stats.examples_out).toBeLessThan(0.54);
  });

  test('different seeds give different swaps', () => {
    const spec: Record<string, number[]> = {};
    for (let i = 0; i < 200; i++) spec[`p${i}`] = [0, 1];
    const a = buildFeedback(groupsOf(spec), { type: 'pairwise', seed: 1 }).examples.map((p) => (p as PairExample).swapped);
    const b = buildFeedback(groupsOf(spec), { type: 'pairwise', seed: 2 }).examples.map((p) => (p as PairExample).swapped);
    expect(a).not.toEqual(b);
  });
});

describe('binary properties', () => {
  test('every labelled sample emitted; label = reward >= threshold', () => {
    fc.assert(
      fc.property(groupsArb, fc.constantFrom<'mean' | 'median' | number>('mean', 'median', 0.5, 1.75), (spec, rule) => {
        const { examples, stats } = buildFeedback(groupsOf(spec), { type: 'binary', threshold: rule });
        expect(stats.examples_out).toBe(stats.labelled);
        for (const e of examples) {
          if (e.kind !== 'binary') throw new Error('expected binary');
          expect(e.label).toBe(e.sample.reward >= e.threshold! ? 1 : 0);
        }
      }),
      { numRuns: 200 },
    );
  });
});
