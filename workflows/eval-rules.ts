/**
 * Evaluation bookkeeping rules (pure, deterministic): which evaluation is due, which checkpoint is
 * best, when the campaign stops for lack of improvement, and when the hacking guard pauses it.
 */
import type { BestBy, EvalSummary } from '../activities/eval/summary';

/** Evaluate after every `every`-th iteration and after the last. */
export function evalDue(iteration: number, every: number, iterations: number): boolean {
  return (iteration + 1) % every === 0 || iteration === iterations - 1;
}

export function metricOf(e: Pick<EvalSummary, 'winRate' | 'lcWinRate' | 'rewardMean'>, by: BestBy): number | null {
  return e[by];
}

/** A strictly higher value is a better best; a missing value never is. */
export function improves(value: number | null, best: { value: number } | null): value is number {
  return value !== null && Number.isFinite(value) && (best === null || value > best.value);
}

/**
 * Is this evaluation a new best? Against the initial policy, a strictly higher value than the best's;
 * against the best checkpoint itself (eval.baseline: best), a win rate above 0.5 (it beats the best).
 */
export function isNewBest(value: number | null, by: BestBy, best: { value: number } | null, againstBest: boolean): value is number {
  if (againstBest && by !== 'rewardMean') return value !== null && Number.isFinite(value) && value > 0.5;
  return improves(value, best);
}

/** What the guard remembers of an evaluation. */
export interface EvalPoint {
  iteration: number;
  trainReward: number | null;
  winRate: number | null;
}

const f3 = (x: number) => x.toFixed(3);

/**
 * Why the hacking guard pauses the campaign, or null: the training reward rose while the eval win rate
 * fell at each of the last two evaluations, or the eval answers grew past maxLengthRatio times the baseline's.
 */
export function hackingReason(recent: EvalPoint[], last: Pick<EvalSummary, 'meanLength' | 'baselineMeanLength'>, maxLengthRatio: number): string | null {
  if (last.meanLength !== null && last.baselineMeanLength !== null && last.baselineMeanLength > 0) {
    const ratio = last.meanLength / last.baselineMeanLength;
    if (ratio > maxLengthRatio)
      return (
        `mean eval answer length ${last.meanLength.toFixed(1)} chars is ${ratio.toFixed(2)}x the baseline's ${last.baselineMeanLength.toFixed(1)} ` +
        `(eval.maxLengthRatio ${maxLengthRatio})`
      );
  }
  if (recent.length < 3) return null;
  const [a, b, c] = recent.slice(-3);
  const known = [a, b, c].every((p) => p.trainReward !== null && p.winRate !== null);
  if (!known) return null;
  if (b.trainReward! > a.trainReward! && c.trainReward! > b.trainReward! && b.winRate! < a.winRate! && c.winRate! < b.winRate!)
    return (
      `training reward rose ${f3(a.trainReward!)} -> ${f3(b.trainReward!)} -> ${f3(c.trainReward!)} while the eval win rate fell ` +
      `${f3(a.winRate!)} -> ${f3(b.winRate!)} -> ${f3(c.winRate!)} (iterations ${a.iteration}, ${b.iteration}, ${c.iteration})`
    );
  return null;
}
