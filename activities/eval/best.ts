/** The best evaluated iteration of a campaign, read from its manifests (pure: `best`, `report`). */
import type { EvalSummary } from './summary';

export interface BestIteration {
  iteration: number;
  by: string;
  value: number;
  checkpoint: string;
  checkpointSha256: string;
  eval: EvalSummary;
}

/**
 * The best iteration by the campaign's eval.bestBy metric (as recorded by the last evaluation): the first
 * with the highest value, or with eval.baseline: best, the last that beat the best before it.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- manifests are JSON read back from disk
export function bestOf(manifests: any[]): BestIteration | null {
  const evaluated = manifests.filter((m) => m.eval);
  if (evaluated.length === 0) return null;
  const by = (evaluated[evaluated.length - 1].eval as EvalSummary).best?.by ?? 'winRate';
  let best: BestIteration | null = null;
  for (const m of evaluated) {
    const e = m.eval as EvalSummary;
    const value = e[by];
    if (value === null || !Number.isFinite(value)) continue;
    // Against the best checkpoint's own answers (eval.baseline: best), a new best is one that beats it.
    const beats = e.against === 'best' && by !== 'rewardMean' ? value > 0.5 : !best || value > best.value;
    if (!beats) continue;
    best = { iteration: m.iteration, by, value, checkpoint: m.lineage.checkpoint_out.path, checkpointSha256: m.lineage.checkpoint_out.sha256, eval: e };
  }
  return best;
}
