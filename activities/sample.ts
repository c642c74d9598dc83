/** Activities of the `alignloop-sample` queue: one prompt shard in, one samples shard out. */
import { heartbeat } from '@temporalio/activity';
import { readJsonl } from './artifacts/json-lines';
import { writeFileAtomic } from './artifacts/atomic-file';
import { FileRef, shardFile, verifyRef } from './artifacts/store';
import { once, refOf } from './durable';
import type { PromptRecord } from './prompts';
import { samplerFor } from './samplers';
import type { IterationScope, SampleShardResult } from './types';

export type SampleShardInput = IterationScope & { shard: number; prompts: FileRef; policy: FileRef };

export function createSampleActivities() {
  return {
    async sampleShard(input: SampleShardInput): Promise<SampleShardResult> {
      const { config: c, campaignId, iteration, shard } = input;
      const file = shardFile(c.artifacts.root, campaignId, iteration, 'samples', shard);
      return once(file, async () => {
        verifyRef(input.prompts, 'prompt shard');
        const prompts = await readJsonl<PromptRecord>(input.prompts.path);
        const out = await samplerFor(c.sampler.kind).sample({
          config: c,
          campaignId,
          iteration,
          shard,
          prompts,
          policy: input.policy,
          progress: (p) => heartbeat(p),
        });
        const { records, ...counts } = out;
        const lines = records.map((r) => JSON.stringify(r) + '\n');
        return { ref: refOf(writeFileAtomic(file, lines), lines.length), extra: { promptsIn: prompts.length, ...counts } };
      });
    },
  };
}

export type SampleActivities = ReturnType<typeof createSampleActivities>;
