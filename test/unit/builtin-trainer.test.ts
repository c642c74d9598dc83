import { features, logProbs, sampleIndices } from '../../activities/policy/builtin-policy';
import { trainDpo, trainGrpo, trainKto, TrainOptions } from '../../activities/policy/builtin-trainer';
import { arrayPool, FeatureStore } from '../../activities/policy/feature-store';
import { seededRng } from '../../activities/feedback/rng';

const DIMS = 64;
const texts = [
  ['first plan the steps then check the result', 'whatever figure it out', 'I do not know', 'step one gather tools step two build'],
  ['here is a clear plan', 'no', 'maybe try something', 'first read then practice then review'],
];
const sparse = texts.map((p) => p.map((t) => features(t, DIMS)));
const pools = sparse.map(arrayPool);
const opts = (o: Partial<TrainOptions> = {}): TrainOptions => ({
  beta: 0.5,
  learningRate: 1e-3,
  epochs: 1,
  temperature: 0.7,
  desirableWeight: 1,
  undesirableWeight: 1.3,
  ...o,
});
const theta0 = Array.from({ length: DIMS }, (_, i) => Math.sin(i) * 0.3);
const ref = Array.from({ length: DIMS }, (_, i) => Math.cos(i) * 0.2);

/** The gradient the trainer used, recovered from one plain gradient step. */
async function analyticGrad(train: (t: number[]) => Promise<{ theta: number[] }>, lr: number): Promise<number[]> {
  const { theta } = await train(theta0);
  return theta.map((v, i) => (theta0[i] - v) / lr);
}

async function numericGrad(lossAt: (t: number[]) => Promise<number>): Promise<number[]> {
  const h = 1e-6;
  const g: number[] = [];
  for (let i = 0; i < DIMS; i++) {
    const p = theta0.slice(),
      m = theta0.slice();
    p[i] += h;
    m[i] -= h;
    g.push(((await lossAt(p)) - (await lossAt(m))) / (2 * h));
  }
  return g;
}

function expectClose(a: number[], b: number[]): void {
  const scale = Math.max(...b.map(Math.abs));
  expect(scale).toBeGreaterThan(1e-4); // the check must be able to fail
  a.forEach((v, i) => expect(Math.abs(v - b[i])).toBeLessThan(1e-4 * Math.max(1, scale)));
}

test('DPO gradient matches finite differences of the DPO loss', async () => {
  const data = [
    { pool: pools[0], chosen: 0, rejected: 1 },
    { pool: pools[1], chosen: 3, rejected: 2 },
  ];
  const lr = 1e-7;
  const a = await analyticGrad((t) => trainDpo(t, ref, data, opts({ learningRate: lr })), lr);
  const n = await numericGrad(async (t) => (await trainDpo(t, ref, data, opts({ learningRate: 0 }))).losses[0]);
  expectClose(a, n);
});

test('GRPO gradient matches finite differences (advantage term + exact KL)', async () => {
  const data = [
    { pool: pools[0], indices: [0, 1, 1, 3], rewards: [0.9, -0.5, -0.5, 0.4] },
    { pool: pools[1], indices: [2, 0, 3], rewards: [0.1, 0.8, 0.2] },
  ];
  const lr = 1e-7;
  const a = await analyticGrad((t) => trainGrpo(t, ref, data, opts({ learningRate: lr, beta: 0.3 })), lr);
  const n = await numericGrad(async (t) => (await trainGrpo(t, ref, data, opts({ learningRate: 0, beta: 0.3 }))).losses[0]);
  expectClose(a, n);
});

test('KTO raises desirable and lowers undesirable log-probabilities', async () => {
  const data = [
    { pool: pools[0], index: 0, desirable: true },
    { pool: pools[0], index: 1, desirable: false },
    { pool: pools[1], index: 3, desirable: true },
  ];
  const { theta, losses } = await trainKto(theta0, ref, data, opts({ learningRate: 0.5, epochs: 40 }));
  const before0 = logProbs(theta0, sparse[0], 0.7),
    after0 = logProbs(theta, sparse[0], 0.7);
  expect(after0[0]).toBeGreaterThan(before0[0]);
  expect(after0[1]).toBeLessThan(before0[1]);
  expect(logProbs(theta, sparse[1], 0.7)[3]).toBeGreaterThan(logProbs(theta0, sparse[1], 0.7)[3]);
  expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
});

test('DPO training moves probability to chosen responses; resuming from an epoch gives the same result', async () => {
  const data = [
    { pool: pools[0], chosen: 0, rejected: 1 },
    { pool: pools[1], chosen: 3, rejected: 1 },
  ];
  const full = await trainDpo(theta0, ref, data, opts({ learningRate: 0.5, epochs: 20 }));
  expect(logProbs(full.theta, sparse[0], 0.7)[0]).toBeGreaterThan(logProbs(theta0, sparse[0], 0.7)[0]);
  let mid: number[] = [];
  await trainDpo(theta0, ref, data, opts({ learningRate: 0.5, epochs: 20 }), (r, t) => {
    if (r.epoch === 8) mid = Array.from(t);
  });
  const resumed = await trainDpo(mid, ref, data, opts({ learningRate: 0.5, epochs: 20 }), undefined, 8);
  expect(resumed.theta).toEqual(full.theta);
});

test('sampling follows the policy distribution', () => {
  const lp = Float64Array.from([Math.log(0.7), Math.log(0.2), Math.log(0.1)]);
  const counts = [0, 0, 0];
  for (const i of sampleIndices(lp, 20000, seededRng(9))) counts[i]++;
  expect(counts[0] / 20000).toBeCloseTo(0.7, 1);
  expect(counts[2] / 20000).toBeCloseTo(0.1, 1);
});

test('packed features train to bit-identical parameters (the store a million samples are trained from)', async () => {
  const store = new FeatureStore(DIMS);
  const packed = texts.map((p) => {
    const first = store.candidates;
    for (const t of p) store.add(t);
    return store.pool(first, p.length);
  });
  const data = (ps: typeof pools) => [
    { pool: ps[0], chosen: 0, rejected: 1 },
    { pool: ps[1], chosen: 3, rejected: 2 },
  ];
  const a = await trainDpo(theta0, ref, data(pools), opts({ epochs: 5, learningRate: 0.3 }));
  const b = await trainDpo(theta0, ref, data(packed), opts({ epochs: 5, learningRate: 0.3 }));
  expect(b.theta).toEqual(a.theta);
  expect(b.losses).toEqual(a.losses);
  const wide = new FeatureStore(100000); // bucket ids past 16 bits
  const c = wide.add('first plan the steps');
  expect(
    wide.dot(
      Array.from({ length: 100000 }, (_, i) => i),
      c,
    ),
  ).toBeCloseTo(
    arrayPool([features('first plan the steps', 100000)]).dot(
      Array.from({ length: 100000 }, (_, i) => i),
      0,
    ),
    9,
  );
});
