/** Evaluation metrics (pure): win rate and its Wilson interval, ties, the length-controlled win rate. */
import { EvalAnswer, evalMetrics, logisticFit, pairwise, wilson } from '../../activities/eval/metrics';

const a = (key: string, reward: number | null, length = 100): EvalAnswer => ({ key, reward, length });

test('Wilson interval: the textbook value for 8 of 10, and [0, 1] for no trials', () => {
  const [lo, hi] = wilson(0.8, 10);
  expect(lo).toBeCloseTo(0.4902, 4);
  expect(hi).toBeCloseTo(0.9433, 4);
  expect(wilson(0.5, 0)).toEqual([0, 1]);
});

test('pairwise: answers pair by key, ties are explicit and count half, unlabelled pairs are left out', () => {
  const cur = [a('p1#0', 2), a('p2#0', 1), a('p3#0', 0.5), a('p4#0', null), a('p5#0', 3)];
  const base = [a('p1#0', 1), a('p2#0', 2), a('p3#0', 0.5), a('p4#0', 1)];
  const r = pairwise(cur, base)!;
  expect(r).toMatchObject({ n: 3, wins: 1, losses: 1, ties: 1 });
  expect(r.winRate).toBeCloseTo(0.5, 12);
  expect(r.ci[0]).toBeLessThan(0.5);
  expect(r.ci[1]).toBeGreaterThan(0.5);
  expect(pairwise([a('x#0', 1)], [a('y#0', 1)])).toBeNull();
});

test('length-controlled win rate: wins explained by length alone come out near 0.5; without length differences it is the win rate', () => {
  // The longer answer wins 90% of its pairs, the shorter one loses 90%: length explains the wins.
  const cur: EvalAnswer[] = [];
  const base: EvalAnswer[] = [];
  const seen = { longer: 0, shorter: 0 };
  for (let i = 0; i < 200; i++) {
    const longer = i % 4 !== 0; // 75% of the current answers are longer
    const k = longer ? seen.longer++ : seen.shorter++;
    const won = longer ? k % 10 !== 0 : k % 10 === 0;
    cur.push(a(`p${i}#0`, won ? 1 : 0, longer ? 150 : 50));
    base.push(a(`p${i}#0`, won ? 0 : 1, 100));
  }
  const r = pairwise(cur, base)!;
  expect(r.winRate).toBeGreaterThan(0.65);
  expect(Math.abs(r.lcWinRate - 0.5)).toBeLessThan(0.05);
  const same = pairwise(
    cur.map((x) => ({ ...x, length: 100 })),
    base,
  )!;
  expect(same.lcWinRate).toBeCloseTo(same.winRate, 12);
});

test('logisticFit recovers a known intercept and slope', () => {
  const x: number[] = [];
  const y: number[] = [];
  for (let i = -50; i <= 50; i++) {
    const xi = i / 50;
    const p = 1 / (1 + Math.exp(-(0.5 + 2 * xi)));
    x.push(xi, xi);
    y.push(p, p); // expected outcomes: the fit is exact
  }
  const [b0, b1] = logisticFit(x, y, 0);
  expect(b0).toBeCloseTo(0.5, 4);
  expect(b1).toBeCloseTo(2, 4);
});

test('evalMetrics: reward mean over labelled answers, mean length, truncated share of all answers asked for', () => {
  const m = evalMetrics([a('p#0', 1, 10), a('p#1', null, 30), a('q#0', 3, 20)], [a('p#0', 0, 10), a('q#0', 4, 40)], 1);
  expect(m).toMatchObject({ answers: 3, labelled: 2, rewardMean: 2, meanLength: 20, truncatedShare: 0.25 });
  expect(m.baseline).toEqual({ rewardMean: 2, meanLength: 25 });
  expect(m.pairwise).toMatchObject({ n: 2, wins: 1, losses: 1, ties: 0 });
});
