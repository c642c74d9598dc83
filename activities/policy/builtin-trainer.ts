/**
 * Exact-gradient DPO, KTO and GRPO for the built-in log-linear policy. For pi(y|x) ∝ exp(theta·phi(y)/T):
 *   grad log pi(y|x) = (phi(y) - E_pi[phi]) / T,
 * so each objective's gradient is computed in closed form over the candidate pool.
 */
import { logSoftmax } from './builtin-policy';
import type { Pool } from './feature-store';

export interface PoolExample {
  pool: Pool;
}
export interface PairTrainExample extends PoolExample {
  chosen: number;
  rejected: number;
}
export interface BinaryTrainExample extends PoolExample {
  index: number;
  desirable: boolean;
}
export interface GroupTrainExample extends PoolExample {
  indices: number[];
  rewards: number[];
}

export interface TrainOptions {
  beta: number;
  learningRate: number;
  epochs: number;
  temperature: number;
  desirableWeight: number;
  undesirableWeight: number;
  /** Called every ~25 ms inside an epoch (the activity heartbeats there). */
  pulse?: () => void;
}

export interface EpochReport {
  epoch: number;
  loss: number;
}

const sigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
const logSigmoid = (x: number) => (x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x)));

/** log pi(y|x) for every candidate of one pool (the same arithmetic as builtin-policy's logProbs). */
function logProbs(theta: ArrayLike<number>, pool: Pool, temperature: number): Float64Array {
  const z = new Float64Array(pool.size);
  for (let j = 0; j < pool.size; j++) z[j] = pool.dot(theta, j) / temperature;
  return logSoftmax(z);
}

/** Adds w * grad log pi(y_i|x) = w * (phi_i - E[phi]) / T to g. */
function addGradLogP(g: Float64Array, pool: Pool, logp: Float64Array, i: number, w: number, T: number): void {
  pool.addTo(g, i, w / T);
  for (let j = 0; j < pool.size; j++) pool.addTo(g, j, (-w * Math.exp(logp[j])) / T);
}

type Step = (theta: Float64Array, grad: Float64Array) => Promise<number>;

/**
 * fn over every item in order, yielding to the event loop every ~25 ms and calling pulse then: an
 * epoch over a million examples takes seconds, and the activity's heartbeats and the workflow tasks
 * sharing the process must not wait for it. The order (and so every float sum) is unchanged.
 */
export async function eachYielding<T>(items: readonly T[], fn: (t: T, n: number) => void, pulse?: () => void): Promise<void> {
  let last = performance.now();
  for (let n = 0; n < items.length; n++) {
    fn(items[n], n);
    if ((n & 127) === 127 && performance.now() - last > 25) {
      pulse?.();
      await new Promise((r) => setImmediate(r));
      last = performance.now();
    }
  }
}

export type OnEpoch = (r: EpochReport, theta: Float64Array) => void | Promise<void>;

/** Gradient descent; awaits onEpoch after every epoch so a caller can heartbeat and persist progress. */
async function run(theta0: number[], opts: TrainOptions, step: Step, onEpoch?: OnEpoch, startEpoch = 0): Promise<{ theta: number[]; losses: number[] }> {
  const theta = Float64Array.from(theta0);
  const grad = new Float64Array(theta.length);
  const losses: number[] = [];
  for (let e = startEpoch; e < opts.epochs; e++) {
    grad.fill(0);
    const loss = await step(theta, grad);
    // grad holds the gradient of the loss: descend.
    for (let i = 0; i < theta.length; i++) theta[i] -= opts.learningRate * grad[i];
    losses.push(loss);
    await onEpoch?.({ epoch: e + 1, loss }, theta);
  }
  return { theta: Array.from(theta), losses };
}

/** DPO: L = -log sigmoid(beta * [(log pi(yw) - log ref(yw)) - (log pi(yl) - log ref(yl))]). */
export function trainDpo(theta0: number[], ref: number[], data: PairTrainExample[], opts: TrainOptions, onEpoch?: OnEpoch, startEpoch = 0) {
  const T = opts.temperature;
  const refLogp = data.map((d) => logProbs(ref, d.pool, T));
  return run(
    theta0,
    opts,
    async (theta, grad) => {
      let loss = 0;
      await eachYielding(
        data,
        (d, n) => {
          const lp = logProbs(theta, d.pool, T);
          const margin = lp[d.chosen] - refLogp[n][d.chosen] - (lp[d.rejected] - refLogp[n][d.rejected]);
          loss -= logSigmoid(opts.beta * margin);
          const w = (-opts.beta * (1 - sigmoid(opts.beta * margin))) / data.length;
          addGradLogP(grad, d.pool, lp, d.chosen, w, T);
          addGradLogP(grad, d.pool, lp, d.rejected, -w, T);
        },
        opts.pulse,
      );
      return loss / Math.max(1, data.length);
    },
    onEpoch,
    startEpoch,
  );
}

function kl(lp: Float64Array, refLp: Float64Array): number {
  let s = 0;
  for (let j = 0; j < lp.length; j++) s += Math.exp(lp[j]) * (lp[j] - refLp[j]);
  return s;
}

/**
 * KTO: r = log pi(y) - log ref(y); z0 = mean KL(pi || ref) over the batch's prompts (no gradient,
 * clamped at 0); v = wD * sigmoid(beta (r - z0)) for desirable, wU * sigmoid(beta (z0 - r)) for
 * undesirable; L = mean(w - v).
 */
export function trainKto(theta0: number[], ref: number[], data: BinaryTrainExample[], opts: TrainOptions, onEpoch?: OnEpoch, startEpoch = 0) {
  const T = opts.temperature;
  const refLogp = data.map((d) => logProbs(ref, d.pool, T));
  return run(
    theta0,
    opts,
    async (theta, grad) => {
      const lps: Float64Array[] = [];
      await eachYielding(data, (d) => lps.push(logProbs(theta, d.pool, T)), opts.pulse);
      const z0 = Math.max(0, lps.reduce((s, lp, n) => s + kl(lp, refLogp[n]), 0) / Math.max(1, data.length));
      let loss = 0;
      await eachYielding(
        data,
        (d, n) => {
          const r = lps[n][d.index] - refLogp[n][d.index];
          if (d.desirable) {
            const s = sigmoid(opts.beta * (r - z0));
            loss += opts.desirableWeight * (1 - s);
            addGradLogP(grad, d.pool, lps[n], d.index, (-opts.desirableWeight * opts.beta * s * (1 - s)) / data.length, T);
          } else {
            const s = sigmoid(opts.beta * (z0 - r));
            loss += opts.undesirableWeight * (1 - s);
            addGradLogP(grad, d.pool, lps[n], d.index, (opts.undesirableWeight * opts.beta * s * (1 - s)) / data.length, T);
          }
        },
        opts.pulse,
      );
      return loss / Math.max(1, data.length);
    },
    onEpoch,
    startEpoch,
  );
}

/**
 * GRPO (on-policy, one update per batch so the clipped ratio is 1): advantages normalised within
 * each prompt's group, J = mean_i A_i log pi(y_i) - beta KL(pi || ref), with the exact KL over the pool.
 */
export function trainGrpo(theta0: number[], ref: number[], data: GroupTrainExample[], opts: TrainOptions, onEpoch?: OnEpoch, startEpoch = 0) {
  const T = opts.temperature;
  const refLogp = data.map((d) => logProbs(ref, d.pool, T));
  const adv = data.map((d) => {
    const m = d.rewards.reduce((a, b) => a + b, 0) / d.rewards.length;
    const sd = Math.sqrt(d.rewards.reduce((a, b) => a + (b - m) * (b - m), 0) / d.rewards.length);
    return d.rewards.map((r) => (r - m) / (sd + 1e-6));
  });
  return run(
    theta0,
    opts,
    async (theta, grad) => {
      let loss = 0;
      await eachYielding(
        data,
        (d, n) => {
          const lp = logProbs(theta, d.pool, T);
          d.indices.forEach((i, k) => {
            loss -= (adv[n][k] * lp[i]) / d.indices.length;
            addGradLogP(grad, d.pool, lp, i, -adv[n][k] / d.indices.length / data.length, T);
          });
          // d KL(pi||ref) / d theta = sum_y pi(y) (log pi(y) - log ref(y) + 1) grad log pi(y); the +1 term sums to 0.
          const klv = kl(lp, refLogp[n]);
          loss += opts.beta * klv;
          for (let j = 0; j < d.pool.size; j++) {
            const w = (opts.beta * Math.exp(lp[j]) * (lp[j] - refLogp[n][j])) / data.length;
            addGradLogP(grad, d.pool, lp, j, w, T);
          }
        },
        opts.pulse,
      );
      return loss / Math.max(1, data.length);
    },
    onEpoch,
    startEpoch,
  );
}
