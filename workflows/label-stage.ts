/**
 * Which activities label a samples shard (deterministic: workflow code). The judge has its own queue
 * and activities (online, or the Batch API's submit / await / collect); every other labeler kind is
 * labeled by `scoreShard` on the score queue, which finds it in the labeler registry; a composite's members
 * are labeled one by one (composite-stage.ts).
 */
import type { FileRef, IterationScope, ScoreShardResult } from '../activities/types';
import { activityProxies, batchPoller } from './activity-proxies';
import { labelCompositeShard } from './composite-stage';

export function labelShard(scope: IterationScope, shard: number, samples: FileRef, budgetUsd: number | null): Promise<ScoreShardResult> {
  const { config } = scope;
  const acts = activityProxies(config.durability);
  const l = config.labeler;
  const where = `shard ${shard} · iteration ${scope.iteration}`;
  if (l.kind === 'composite') return labelCompositeShard(scope, shard, samples, budgetUsd);
  if (l.kind !== 'judge') return acts.score.scoreShard.executeWithOptions({ summary: `score ${where}` }, [{ ...scope, shard, samples }]);
  const input = { ...scope, shard, samples, budgetUsd };
  if (!l.batch.enabled) return acts.judge.judgeShard.executeWithOptions({ summary: `judge ${where} (${l.model})` }, [input]);
  return (async () => {
    const sub = await acts.judge.submitJudgeBatch.executeWithOptions({ summary: `submit judge batch for ${where}` }, [input]);
    if (sub.batchId) await batchPoller(l.batch.pollSeconds, config.durability).awaitJudgeBatch({ config, batchId: sub.batchId });
    return acts.judge.collectJudgeBatch.executeWithOptions({ summary: `collect judge batch for ${where}` }, [{ ...input, batchId: sub.batchId }]);
  })();
}
