/**
 * Evaluation metrics of one checkpoint on the held-out prompts (pure): mean reward, the pairwise win
 * rate against the baseline's answers (each answer against the baseline answer of the same prompt and
 * sample number) with a Wilson interval, the length-controlled win rate, mean answer length and the
 * share of truncated answers.
 */

/** One eval answer as scored. */
export interface EvalAnswer {
  /** prompt_id and sample_id: what pairs an answer with the baseline's. */
  key: string;
  /** null: the labeler gave none. */
  reward: number | null;
  /** Characters of the answer. */
  length: number;
}

export interface PairwiseResult {
  /** Pairs where both answers have a reward. */
  n: number;
  wins: number;
  losses: number;
  ties: number;
  /** (wins + ties / 2) / n. */
  winRate: number;
  /** 95% Wilson score interval of the win rate. */
  ci: [number, number];
  /** The win rate at equal length: the intercept of a logistic regression of the outcome on tanh(length difference / sd). */
  lcWinRate: number;
}

export interface EvalMetrics {
  answers: number;
  labelled: number;
  rewardMean: number | null;
  meanLength: number | null;
  /** Answers cut at the sampler's length limit, of all answers asked for. */
  truncatedShare: number;
  baseline: { rewardMean: number | null; meanLength: number | null } | null;
  pairwise: PairwiseResult | null;
}

/** Rewards closer than this are a tie. */
export const TIE_EPSILON = 1e-9;
const Z95 = 1.959963984540054;

const mean = (xs: number[]): number | null => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

/** Wilson score interval of a proportion p over n trials. */
export function wilson(p: number, n: number, z = Z95): [number, number] {
  if (n === 0) return [0, 1];
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

const sigmoid = (t: number) => 1 / (1 + Math.exp(-t));

/**
 * Logistic regression of y (1 win, 0 loss, 0.5 tie) on [1, x] by Newton's method, with a small ridge
 * on the slope so a perfectly separated set stays finite. Returns [intercept, slope].
 */
export function logisticFit(x: number[], y: number[], ridge = 1e-3, iterations = 50): [number, number] {
  let b0 = 0;
  let b1 = 0;
  for (let it = 0; it < iterations; it++) {
    let g0 = 0;
    let g1 = -ridge * b1;
    let h00 = 1e-9;
    let h01 = 0;
    let h11 = ridge;
    for (let i = 0; i < x.length; i++) {
      const p = sigmoid(b0 + b1 * x[i]);
      const w = p * (1 - p);
      g0 += y[i] - p;
      g1 += (y[i] - p) * x[i];
      h00 += w;
      h01 += w * x[i];
      h11 += w * x[i] * x[i];
    }
    const det = h00 * h11 - h01 * h01;
    if (!(Math.abs(det) > 1e-15)) break;
    const d0 = (h11 * g0 - h01 * g1) / det;
    const d1 = (h00 * g1 - h01 * g0) / det;
    b0 += d0;
    b1 += d1;
    if (Math.abs(d0) + Math.abs(d1) < 1e-10) break;
  }
  return [b0, b1];
}

/** Win rate, interval and length-controlled win rate of `current` against `baseline`, paired by key. */
export function pairwise(current: EvalAnswer[], baseline: EvalAnswer[]): PairwiseResult | null {
  const base = new Map(baseline.map((a) => [a.key, a]));
  const y: number[] = [];
  const dl: number[] = [];
  let wins = 0;
  let losses = 0;
  let ties = 0;
  for (const a of current) {
    const b = base.get(a.key);
    if (!b || a.reward === null || b.reward === null) continue;
    const d = a.reward - b.reward;
    if (Math.abs(d) <= TIE_EPSILON) {
      ties++;
      y.push(0.5);
    } else if (d > 0) {
      wins++;
      y.push(1);
    } else {
      losses++;
      y.push(0);
    }
    dl.push(a.length - b.length);
  }
  const n = y.length;
  if (n === 0) return null;
  const winRate = (wins + ties / 2) / n;
  const m = mean(dl)!;
  const sd = Math.sqrt(dl.reduce((s, d) => s + (d - m) ** 2, 0) / n);
  // AlpacaEval 2's length control: the length term is tanh(difference / its standard deviation); the
  // win rate at zero difference is the intercept's.
  const lcWinRate =
    sd > 0
      ? sigmoid(
          logisticFit(
            dl.map((d) => Math.tanh(d / sd)),
            y,
          )[0],
        )
      : winRate;
  return { n, wins, losses, ties, winRate, ci: wilson(winRate, n), lcWinRate };
}

export function evalMetrics(current: EvalAnswer[], baseline: EvalAnswer[] | null, truncated: number): EvalMetrics {
  const rewards = current.map((a) => a.reward).filter((r): r is number => r !== null && Number.isFinite(r));
  const asked = current.length + truncated;
  return {
    answers: current.length,
    labelled: rewards.length,
    rewardMean: mean(rewards),
    meanLength: mean(current.map((a) => a.length)),
    truncatedShare: asked ? truncated / asked : 0,
    baseline: baseline
      ? {
          rewardMean: mean(baseline.map((a) => a.reward).filter((r): r is number => r !== null && Number.isFinite(r))),
          meanLength: mean(baseline.map((a) => a.length)),
        }
      : null,
    pairwise: baseline ? pairwise(current, baseline) : null,
  };
}
