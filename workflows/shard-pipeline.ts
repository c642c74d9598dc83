/**
 * Sample and label shards as a pipeline: a shard is labeled as soon as it is sampled, and at most
 * `window` shards are in flight at once, so any number of shards stays far below Temporal's limit
 * on pending activities per workflow (2,000) and history grows with the shards done, not scheduled.
 * Deterministic workflow code.
 */
import type { FileRef, IterationScope, SampledFrom, SampleShardResult, ScoreShardResult } from '../activities/types';
import { tagShard } from './failures';
import { labelShard } from './label-stage';
import { activityProxies } from './activity-proxies';

export type LabelOutcome = ScoreShardResult | { message: string; spentUsd: number };

export interface PipelineHooks {
  sampled(shard: number, result: SampleShardResult): void;
  labelled(shard: number, outcome: LabelOutcome): void;
  /** A label failure that is not fatal (a spent judge budget) becomes an outcome instead. */
  recover(e: unknown): LabelOutcome;
}

/** Runs fn(0..n-1) with at most `size` calls in flight, in index order. */
export async function windowed(n: number, size: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(size, n)) }, lane));
}

export async function pipelineShards(
  scope: IterationScope,
  input: { prompts: FileRef[]; policy: FileRef; budgetUsd: number | null; window: number; sampledFrom?: SampledFrom },
  hooks: PipelineHooks,
): Promise<{ samples: SampleShardResult[]; outcomes: LabelOutcome[] }> {
  const acts = activityProxies(scope.config.durability);
  const n = input.prompts.length;
  const samples: SampleShardResult[] = new Array(n);
  const outcomes: LabelOutcome[] = new Array(n);
  await windowed(n, input.window, async (shard) => {
    const s = await tagShard(
      shard,
      acts.sample.sampleShard.executeWithOptions({ summary: `sample shard ${shard}/${n} · iteration ${scope.iteration}` }, [
        { ...scope, shard, prompts: input.prompts[shard], policy: input.policy, ...(input.sampledFrom ? { sampledFrom: input.sampledFrom } : {}) },
      ]),
    );
    samples[shard] = s;
    hooks.sampled(shard, s);
    const o = await tagShard(
      shard,
      labelShard(scope, shard, s.ref, input.budgetUsd).catch((e) => hooks.recover(e)),
    );
    outcomes[shard] = o;
    hooks.labelled(shard, o);
  });
  return { samples, outcomes };
}
