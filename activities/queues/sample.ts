/** Activities of the `alignloop-sample` queue: one prompt shard in, one samples shard out. */
import { Context, heartbeat } from '@temporalio/activity';
import { credentialNames } from '../process/child-env';
import { QUEUES } from '../../config/queues';
import { readJsonl } from '../artifacts/json-lines';
import { writeFileAtomic } from '../artifacts/atomic-file';
import { HOST } from '../artifacts/host';
import { FileRef, markComplete, shardFile, verifyRef } from '../artifacts/store';
import { guarded, once, refOf } from '../durable';
import type { PromptRecord } from '../prompts';
import { samplerFor } from '../samplers';
import { managedServers, reapManagedOrphans } from '../samplers/managed/sampler';
import type { IterationScope, SampledFrom, SampleShardResult } from '../types';
import { EvalStage, evalSettings } from './eval';

/** The folder of the samples cut at maxTokens (sampler.dropTruncated), beside samples/. */
export const TRUNCATED_STAGE = 'samples-truncated';

export type SampleShardInput = IterationScope & {
  shard: number;
  prompts: FileRef;
  policy: FileRef;
  /** Given when iterations overlap: recorded with the shard (which checkpoint, which version). */
  sampledFrom?: SampledFrom;
  /** Held-out prompts (eval:): the answers go to iter-NNN/<stage>/samples/, drawn as eval settings say. */
  evaluation?: { stage: EvalStage };
};

/**
 * This worker process's own task queue: the iteration sends `stopManagedSampler` here, to the
 * process that runs the server (Temporal's worker-specific task queue pattern).
 */
export const SAMPLE_PROCESS_QUEUE = `${QUEUES.sample}@${HOST}-${process.pid}`;

export function createSampleActivities() {
  return {
    async sampleShard(input: SampleShardInput): Promise<SampleShardResult> {
      const { config: c, campaignId, iteration, shard } = input;
      const ev = input.evaluation ? evalSettings(c) : null;
      const file = shardFile(c.artifacts.root, campaignId, iteration, input.evaluation ? `${input.evaluation.stage}/samples` : 'samples', shard);
      return once(file, async () => {
        verifyRef(input.prompts, 'prompt shard');
        const prompts = await readJsonl<PromptRecord>(input.prompts.path);
        const sampler = await samplerFor(c.sampler);
        const out = await sampler.sample({
          settings: ev ? { ...c.sampler, samplesPerPrompt: ev.samplesPerPrompt } : c.sampler,
          ...(ev ? { evaluation: { seed: ev.seed, greedy: ev.greedy } } : {}),
          credentialEnv: credentialNames(c),
          artifactsRoot: c.artifacts.root,
          campaignId,
          iteration,
          shard,
          prompts,
          promptsRef: input.prompts,
          policy: input.policy,
          signal: Context.current().cancellationSignal,
          progress: (p) => heartbeat(p),
        });
        const { records, truncatedRecords, ...counts } = out;
        const lines = records.map((r) => JSON.stringify(r) + '\n');
        // What a paid server returned cut at maxTokens is kept for audit beside the shard, never labeled;
        // written first, so a completed shard always has it. No truncation: nothing new is written.
        let truncatedSamples: FileRef | undefined;
        if (truncatedRecords?.length) {
          const cut = truncatedRecords.map((r) => JSON.stringify(r) + '\n');
          const stage = input.evaluation ? `${input.evaluation.stage}/${TRUNCATED_STAGE}` : TRUNCATED_STAGE;
          truncatedSamples = refOf(writeFileAtomic(shardFile(c.artifacts.root, campaignId, iteration, stage, shard), cut), cut.length);
          markComplete(truncatedSamples, {});
        }
        const extra = {
          promptsIn: prompts.length,
          ...counts,
          ...(truncatedSamples ? { truncatedSamples } : {}),
          ...(c.sampler.kind === 'managed' ? { serverQueue: SAMPLE_PROCESS_QUEUE } : {}),
          ...(input.sampledFrom ? { sampledFrom: input.sampledFrom } : {}),
        };
        return { ref: refOf(writeFileAtomic(file, lines), lines.length), extra };
      });
    },

    /** Servers of this host left behind by a worker that died (any sample worker of the host may run it). */
    async reapSamplerOrphans(input: IterationScope): Promise<number> {
      return guarded(() => reapManagedOrphans(input.config.artifacts.root, input.campaignId));
    },
  };
}

/** What only the process that started a managed server can do: registered on SAMPLE_PROCESS_QUEUE. */
export function createSampleProcessActivities() {
  return {
    async stopManagedSampler(input: { campaignId: string }): Promise<boolean> {
      return managedServers.stop(input.campaignId);
    },
  };
}

export type SampleActivities = ReturnType<typeof createSampleActivities>;
export type SampleProcessActivities = ReturnType<typeof createSampleProcessActivities>;
