/** What an evaluated iteration reports (types, which workflows import type-only) and the eval labeler's record name. */
import type { FileRef } from '../artifacts/store';

/** The identity record of eval.labeler's reward model (the campaign labeler's is labeler.json). */
export const EVAL_LABELER_RECORD = 'eval-labeler.json';

export type BestBy = 'winRate' | 'lcWinRate' | 'rewardMean';

/** One evaluation, small: it rides in the iteration summary and the campaign state. */
export interface EvalSummary {
  prompts: number;
  answers: number;
  labelled: number;
  rewardMean: number | null;
  /** Against the baseline (the initial policy's answers); null when no pair had both rewards. */
  winRate: number | null;
  winRateCi: [number, number] | null;
  lcWinRate: number | null;
  wins: number;
  losses: number;
  ties: number;
  meanLength: number | null;
  baselineMeanLength: number | null;
  baselineRewardMean: number | null;
  truncatedShare: number;
  /** Whose verdicts the win rate is: the eval rewards' (labeler) or eval.judge's (judge). */
  winRateBy?: 'labeler' | 'judge';
  /** eval.judge: pairs judged, pairs whose two orders disagreed (ties), pairs left unlabelled. */
  judged?: { pairs: number; inconsistent: number; unlabelled: number };
  /** The iteration whose folder holds the baseline's answers: eval/baseline/ (the initial policy's), or eval/ (the best checkpoint's, with `against: best`). */
  baselineIteration: number;
  /** What the answers were compared with (absent: the initial policy). */
  against?: 'initial' | 'best';
  /** iter-NNN/eval/metrics.json. */
  metricsFile: FileRef;
  /** Set by the iteration: the best checkpoint by eval.bestBy after this evaluation. */
  best?: { by: BestBy; value: number | null; isBest: boolean; bestIteration: number | null };
}

/** What the campaign hands an iteration that evaluates. */
export interface IterationEvalInput {
  /** The initial policy: the baseline's answers are its own. */
  initial: FileRef;
  /** Where the baseline's answers are, once an earlier iteration made them; null: this iteration makes them. */
  baselineIteration: number | null;
  /** The best so far. */
  best: { iteration: number; value: number } | null;
  /** eval.baseline: best: compare with this (best) iteration's eval answers instead of the initial policy's. */
  againstBest?: number;
}
