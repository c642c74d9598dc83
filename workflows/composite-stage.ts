/**
 * A composite labeler's members on one shard (deterministic workflow code): the gates first, in order (each
 * sees only what the gates before it passed), then the other members side by side on what every gate passed;
 * a judge member on the judge queue, the others on the score queue. Each member's results are kept per
 * shard; the iteration's rewards are combined from them before feedback is built (normalisation needs
 * every shard). Reached only by campaigns with labeler.kind: composite.
 */
import type { CompositeConfig } from '../activities/labelers/composite/config';
import type { FileRef, IterationScope, ScoreShardResult } from '../activities/types';
import { activityProxies } from './activity-proxies';

export async function labelCompositeShard(scope: IterationScope, shard: number, samples: FileRef, budgetUsd: number | null): Promise<ScoreShardResult> {
  const l = scope.config.labeler as CompositeConfig;
  const acts = activityProxies(scope.config.durability);
  const where = `shard ${shard} · iteration ${scope.iteration}`;
  const run = (member: number): Promise<ScoreShardResult> => {
    const m = l.members[member];
    const input = { ...scope, shard, samples, member };
    return m.labeler.kind === 'judge'
      ? acts.judge.judgeMemberShard.executeWithOptions({ summary: `judge (member ${m.name}) ${where}` }, [{ ...input, budgetUsd }])
      : acts.score.scoreMemberShard.executeWithOptions({ summary: `${m.labeler.kind} (member ${m.name}) ${where}` }, [input]);
  };
  const results: ScoreShardResult[] = [];
  for (let i = 0; i < l.members.length; i++) if (l.members[i].gate) results[i] = await run(i);
  await Promise.all(
    l.members.map(async (m, i) => {
      if (!m.gate) results[i] = await run(i);
    }),
  );
  // The shard's outcome for the pipeline's progress; its rewards are the combine step's (scored/ shards).
  return { ...results[0], samples: samples.count ?? results[0].samples };
}
