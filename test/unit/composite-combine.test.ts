/** The pure parts of composite rewards: normalisation, gates, combination, agreement, length control. */
import { buildFeedback, disagreementOf } from '../../activities/feedback/build';
import { agreement, combineIteration, CombineSettings, Row } from '../../activities/labelers/composite/combine';
import { fitNormaliser } from '../../activities/labelers/composite/normalise';
import { fitLine, pearson, spearman } from '../../activities/labelers/composite/stats';

const ok = (reward: number, pass: boolean | null = null) => ({ reward, status: 'ok', pass });

function settings(o: Partial<CombineSettings> = {}): CombineSettings {
  return {
    members: [
      { name: 'rm', weight: 1, normalize: 'zscore', gate: false },
      { name: 'judge', weight: 1, normalize: 'zscore', gate: false },
    ],
    combine: 'weighted',
    minMembers: null,
    gateFailed: 'drop',
    length: { control: 'none' },
    ...o,
  };
}

describe('normalisation', () => {
  test('zscore, minmax and rank map an iteration onto comparable scales', () => {
    const v = [1, 2, 2, 5];
    const z = fitNormaliser(v, 'zscore');
    expect(z.stats).toMatchObject({ n: 4, mean: 2.5, min: 1, max: 5 });
    expect(v.map(z.apply).reduce((a, b) => a + b, 0)).toBeCloseTo(0, 12);
    expect(z.apply(2.5 + z.stats.std!)).toBeCloseTo(1, 12);
    expect(v.map(fitNormaliser(v, 'minmax').apply)).toEqual([0, 0.25, 0.25, 1]);
    // mid-ranks: the tied 2s share rank 1.5 of 0..3
    expect(v.map(fitNormaliser(v, 'rank').apply)).toEqual([0, 0.5, 0.5, 1]);
    expect(fitNormaliser([3, 3], 'zscore').apply(3)).toBe(0);
    expect(fitNormaliser([3, 3], 'minmax').apply(3)).toBe(0.5);
    expect(fitNormaliser([7], 'none').apply(7)).toBe(7);
  });
});

describe('statistics', () => {
  test('pearson, spearman on mid-ranks, least squares', () => {
    expect(pearson([1, 2, 3], [2, 4, 6])).toBeCloseTo(1, 12);
    expect(pearson([1, 2, 3], [1, 1, 1])).toBeNull();
    expect(spearman([1, 2, 3, 4], [10, 100, 1000, 10000])).toBeCloseTo(1, 12);
    expect(spearman([1, 2, 3, 4], [4, 3, 2, 1])).toBeCloseTo(-1, 12);
    expect(fitLine([0, 1, 2], [1, 3, 5])).toEqual({ a: 1, b: 2 });
  });
});

describe('combineIteration', () => {
  test('weighted: a judge on 1-10 and an RM on logits count by their weights after z-scoring', () => {
    const rows: Row[] = [
      { promptId: 'p', length: 3, members: { rm: ok(-2), judge: ok(2) } },
      { promptId: 'p', length: 3, members: { rm: ok(2), judge: ok(8) } },
      { promptId: 'q', length: 3, members: { rm: ok(0), judge: ok(5) } },
    ];
    const { outcomes, stats } = combineIteration(
      rows,
      settings({
        members: [
          { name: 'rm', weight: 3, normalize: 'zscore', gate: false },
          { name: 'judge', weight: 1, normalize: 'zscore', gate: false },
        ],
      }),
    );
    // Both members z-score to the same values here, so any weights give them back.
    const z = Math.sqrt(3 / 2);
    expect(outcomes.map((o) => o.reward)).toEqual([expect.closeTo(-z, 10), expect.closeTo(z, 10), expect.closeTo(0, 10)]);
    expect(stats.members.rm.normalisation).toMatchObject({ method: 'zscore', n: 3, mean: 0 });
    expect(stats.members.judge.normalisation).toMatchObject({ mean: 5, min: 2, max: 8 });
    const w = combineIteration(
      [
        { promptId: 'p', length: 1, members: { rm: ok(0), judge: ok(1) } },
        { promptId: 'p', length: 1, members: { rm: ok(1), judge: ok(0) } },
      ],
      settings({
        members: [
          { name: 'rm', weight: 3, normalize: 'minmax', gate: false },
          { name: 'judge', weight: 1, normalize: 'minmax', gate: false },
        ],
      }),
    );
    expect(w.outcomes.map((o) => o.reward)).toEqual([0.25, 0.75]);
  });

  test('a member that failed never contributes a number: unlabelled, saying which member and why, unless minMembers allows it', () => {
    const rows: Row[] = [
      { promptId: 'p', length: 1, members: { rm: ok(1), judge: { reward: null, status: 'parse_error', pass: null } } },
      { promptId: 'p', length: 1, members: { rm: ok(3), judge: ok(4) } },
    ];
    const all = combineIteration(
      rows,
      settings({
        members: [
          { name: 'rm', weight: 1, normalize: 'none', gate: false },
          { name: 'judge', weight: 1, normalize: 'none', gate: false },
        ],
      }),
    );
    expect(all.outcomes[0]).toMatchObject({ reward: null, status: 'member_failed', error: 'judge: parse_error' });
    expect(all.outcomes[1].reward).toBe(3.5);
    expect(all.stats.unlabelled).toEqual({ member_failed: 1 });
    expect(all.stats.members.judge).toMatchObject({ asked: 2, answered: 1, unlabelled: { parse_error: 1 } });
    const one = combineIteration(
      rows,
      settings({
        minMembers: 1,
        members: [
          { name: 'rm', weight: 1, normalize: 'none', gate: false },
          { name: 'judge', weight: 1, normalize: 'none', gate: false },
        ],
      }),
    );
    expect(one.outcomes.map((o) => o.reward)).toEqual([1, 3.5]);
  });

  test('gates: a failed sample is dropped (or floored below every other), an unanswered gate leaves it unlabelled; paid members were not asked', () => {
    const s = settings({
      members: [
        { name: 'math', weight: 0, normalize: 'none', gate: true },
        { name: 'rm', weight: 1, normalize: 'none', gate: false },
      ],
      combine: 'gate-then-weighted',
    });
    const rows: Row[] = [
      { promptId: 'p', length: 1, members: { math: ok(1, true), rm: ok(0.5) } },
      { promptId: 'p', length: 1, members: { math: ok(0, false), rm: undefined } },
      { promptId: 'p', length: 1, members: { math: { reward: null, status: 'verifier_error', pass: null }, rm: undefined } },
      { promptId: 'p', length: 1, members: { math: ok(1, true), rm: ok(-0.5) } },
    ];
    const drop = combineIteration(rows, s);
    expect(drop.outcomes.map((o) => [o.reward, o.status, o.gate])).toEqual([
      [0.5, 'ok', 'pass'],
      [null, 'gate_failed', 'fail'],
      [null, 'gate_unlabelled', null],
      [-0.5, 'ok', 'pass'],
    ]);
    expect(drop.outcomes[2].error).toBe('math: verifier_error');
    expect(drop.stats.gate).toMatchObject({ passed: 2, failed: 1, unlabelled: 1 });
    expect(drop.stats.notAsked).toEqual({ rm: 2 });
    const floor = combineIteration(rows, { ...s, gateFailed: 'floor' });
    expect(floor.outcomes[1]).toMatchObject({ reward: -1.5, status: 'ok', gate: 'fail' });
    expect(floor.stats.gate.floor).toBe(-1.5);
  });

  test('min takes the most pessimistic member; vote follows the weighted pairwise majority within a prompt', () => {
    const three = (a: number, b: number, c: number) => ({ a: ok(a), b: ok(b), c: ok(c) });
    const members = ['a', 'b', 'c'].map((name) => ({ name, weight: 1, normalize: 'none' as const, gate: false }));
    const rows: Row[] = [
      { promptId: 'p', length: 1, members: three(1, 5, 9) },
      { promptId: 'p', length: 1, members: three(2, 6, 0) },
      { promptId: 'p', length: 1, members: three(0, 0, 0) },
    ];
    expect(combineIteration(rows, settings({ members, combine: 'min' })).outcomes.map((o) => o.reward)).toEqual([1, 0, 0]);
    // x vs y: a and b prefer y, c prefers x -> y wins; both beat z by majority.
    expect(combineIteration(rows, settings({ members, combine: 'vote' })).outcomes.map((o) => o.reward)).toEqual([0.5, 1, 0]);
  });

  test('length control: the penalty and the regression remove a length bias, and the bias is measured before and after', () => {
    const rows: Row[] = Array.from({ length: 20 }, (_, i) => ({
      promptId: `p${i >> 2}`,
      length: 10 + 5 * i,
      // reward = quality (alternating) + 0.1 per word: a verbose labeler
      members: { rm: ok((i % 2) + 0.1 * (10 + 5 * i)) },
    }));
    const s = settings({ members: [{ name: 'rm', weight: 1, normalize: 'none', gate: false }] });
    const none = combineIteration(rows, s);
    expect(none.stats.length.corrBefore).toBeGreaterThan(0.95);
    expect(none.stats.length.corrAfter).toBe(none.stats.length.corrBefore);
    const reg = combineIteration(rows, { ...s, length: { control: 'regress' } });
    expect(Math.abs(reg.stats.length.corrAfter!)).toBeLessThan(1e-6);
    expect(reg.stats.length.slope).toBeCloseTo(0.1, 2);
    // what is left is the quality signal: odd samples above even ones
    expect(reg.outcomes[3].reward!).toBeGreaterThan(reg.outcomes[2].reward!);
    const pen = combineIteration(rows, { ...s, length: { control: 'penalty', perWord: 0.1 } });
    expect(pen.outcomes.map((o) => o.reward)).toEqual(rows.map((_, i) => expect.closeTo(i % 2, 10)));
    expect(pen.outcomes[5].combined).toBeCloseTo(1 + 0.1 * 35, 10);
  });
});

describe('agreement', () => {
  test('pairwise agreement over within-prompt pairs (ties skipped) and rank correlation', () => {
    const rows: Row[] = [
      { promptId: 'p', length: 1, members: { a: ok(1), b: ok(10) } },
      { promptId: 'p', length: 1, members: { a: ok(2), b: ok(20) } },
      { promptId: 'p', length: 1, members: { a: ok(3), b: ok(5) } },
      { promptId: 'q', length: 1, members: { a: ok(1), b: ok(1) } },
      { promptId: 'q', length: 1, members: { a: ok(1), b: ok(2) } },
    ];
    const [ab] = agreement(rows, [
      { name: 'a', weight: 1, normalize: 'none', gate: false },
      { name: 'b', weight: 1, normalize: 'none', gate: false },
    ]);
    // p: (1,2) agree, (1,3) disagree, (2,3) disagree; q: a ties -> skipped
    expect(ab).toMatchObject({ a: 'a', b: 'b', pairs: 3, agreement: 0.3333, samples: 5 });
    expect(ab.spearman).not.toBeNull();
  });
});

describe('disagreement rule (pairwise feedback)', () => {
  const sample = (id: number, reward: number, members: Record<string, number | null>) => ({
    prompt_id: 'p',
    sample_id: id,
    prompt: [{ role: 'user', content: 'q' }],
    output: [{ role: 'assistant', content: `a${id}` }],
    reward,
    label_status: 'ok',
    line: id + 1,
    members,
  });
  const rule = { minAgreement: 0.6, members: ['rm', 'judge'] };

  test('a pair is dropped when too few of the members that ordered it agree, and named by those that reversed it', () => {
    expect(disagreementOf(sample(0, 1, { rm: 2, judge: 9 }), sample(1, 0, { rm: 1, judge: 3 }), rule)).toBeNull();
    expect(disagreementOf(sample(0, 1, { rm: 2, judge: 3 }), sample(1, 0, { rm: 1, judge: 9 }), rule)).toBe('judge reversed');
    // the pair's order comes from the rewards, whichever sample is first
    expect(disagreementOf(sample(1, 0, { rm: 1, judge: 9 }), sample(0, 1, { rm: 2, judge: 3 }), rule)).toBe('judge reversed');
    // a tie, or a member that did not score both, has no say
    expect(disagreementOf(sample(0, 1, { rm: 2, judge: 5 }), sample(1, 0, { rm: 1, judge: 5 }), rule)).toBeNull();
    expect(disagreementOf(sample(0, 1, { rm: 2, judge: null }), sample(1, 0, { rm: 1, judge: 9 }), rule)).toBeNull();
    expect(disagreementOf(sample(0, 1, { rm: 1, judge: 3 }), sample(1, 0, { rm: 2, judge: 9 }), rule)).toBe('rm+judge reversed');
  });

  test('the feedback builder drops and counts them; without the rule nothing changes', () => {
    const groups = new Map([
      ['p', [sample(0, 1, { rm: 2, judge: 3 }), sample(1, 0, { rm: 1, judge: 9 })]],
      [
        'q',
        [
          { ...sample(0, 1, { rm: 2, judge: 9 }), prompt_id: 'q' },
          { ...sample(1, 0, { rm: 1, judge: 3 }), prompt_id: 'q' },
        ],
      ],
    ]);
    const plain = buildFeedback(groups, { type: 'pairwise', mode: 'max', threshold: 0.01, seed: 0 });
    expect(plain.examples).toHaveLength(2);
    expect(plain.stats.pairs_dropped_by_disagreement).toBeUndefined();
    const ruled = buildFeedback(groups, { type: 'pairwise', mode: 'max', threshold: 0.01, seed: 0, disagreement: rule });
    expect(ruled.examples.map((e) => (e.kind === 'pair' ? e.prompt_id : null))).toEqual(['q']);
    expect(ruled.stats.pairs_dropped_by_disagreement).toEqual({ 'judge reversed': 1 });
    // the kept pair is the very pair (swap included) the feedback would have without the rule
    expect(ruled.examples[0]).toEqual(plain.examples[1]);
    expect(ruled.stats.prompts_out).toBe(1);
    const none = buildFeedback(new Map([['p', groups.get('p')!]]), { type: 'pairwise', mode: 'max', threshold: 0.01, seed: 0, disagreement: rule });
    expect(none.stats.empty_reason).toBe("0 pairs: 1 pairs the composite's members ordered differently (labeler.disagreement)");
  });
});
