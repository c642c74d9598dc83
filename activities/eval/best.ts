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

/** The first iteration with the highest value of the campaign's eval.bestBy metric (as recorded by the last evaluation). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- manifests are JSON read back from disk
export function bestOf(manifests: any[]): BestIteration | null {
  const evaluated = manifests.filter((m) => m.eval);
  if (evaluated.length === 0) return null;
  const by = (evaluated[evaluated.length - 1].eval as EvalSummary).best?.by ?? 'winRate';
  let best: BestIteration | null = null;
  for (const m of evaluated) {
    const e = m.eval as EvalSummary;
    const value = e[by];
    if (value === null || !Number.isFinite(value) || (best && value <= best.value)) continue;
    best = { iteration: m.iteration, by, value, checkpoint: m.lineage.checkpoint_out.path, checkpointSha256: m.lineage.checkpoint_out.sha256, eval: e };
  }
  return best;
}
