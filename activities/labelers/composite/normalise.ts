/**
 * Per-iteration normalisation of one member's scores (pure), so that a judge's 1-10 scale and a reward
 * model's logits can be combined: z-score, rank (mid-rank percentile in [0, 1]) or min-max.
 */

export const NORMALISATIONS = ['zscore', 'rank', 'minmax', 'none'] as const;
export type Normalisation = (typeof NORMALISATIONS)[number];

export interface NormStats {
  method: Normalisation;
  n: number;
  mean: number | null;
  std: number | null;
  min: number | null;
  max: number | null;
}

export interface Normaliser {
  stats: NormStats;
  apply(x: number): number;
}

/** Count of values below x and equal to x in a sorted array. */
function below(sorted: number[], x: number): { less: number; equal: number } {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  let end = lo;
  while (end < sorted.length && sorted[end] === x) end++;
  return { less: lo, equal: end - lo };
}

/** The normaliser fitted on one iteration's values of a member (finite numbers only). */
export function fitNormaliser(values: number[], method: Normalisation): Normaliser {
  const n = values.length;
  const mean = n ? values.reduce((a, b) => a + b, 0) / n : null;
  const std = n && mean !== null ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / n) : null;
  const sorted = [...values].sort((a, b) => a - b);
  const min = n ? sorted[0] : null;
  const max = n ? sorted[n - 1] : null;
  const stats: NormStats = { method, n, mean, std, min, max };
  switch (method) {
    case 'none':
      return { stats, apply: (x) => x };
    case 'zscore':
      return { stats, apply: (x) => (std ? (x - mean!) / std : 0) };
    case 'minmax':
      return { stats, apply: (x) => (max! > min! ? (x - min!) / (max! - min!) : 0.5) };
    case 'rank':
      return {
        stats,
        apply: (x) => {
          if (n <= 1) return 0.5;
          const { less, equal } = below(sorted, x);
          // Mid-rank of x among the fitted values (ties share their average rank), scaled to [0, 1].
          return (less + Math.max(0, equal - 1) / 2) / (n - 1);
        },
      };
  }
}
