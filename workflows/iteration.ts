import { setHandler } from '@temporalio/workflow';
import type { FileRef, IterationScope, IterationSummary } from '../activities/types';
import { activityProxies } from './activity-proxies';
import { iterationStatusQuery, IterationStatus, Stage } from './messages';

export interface IterationInput extends IterationScope {
  policy: FileRef;
  reference: FileRef;
}

export interface IterationOutput {
  summary: IterationSummary;
  checkpoint: FileRef;
}

/** One iteration: prompts slice -> sample shards -> label shards -> feedback -> train -> manifest. */
export async function iterationWorkflow(input: IterationInput): Promise<IterationOutput> {
  const { campaignId, iteration, config } = input;
  const scope = { campaignId, iteration, config };
  const status: IterationStatus = { iteration, stage: 'starting', shardsDone: 0, shardsTotal: 0 };
  setHandler(iterationStatusQuery, () => status);
  const acts = activityProxies(config.durability.heartbeatTimeoutSeconds);
  const timings: Record<string, number> = {};
  const startedAt = new Date().toISOString();
  const stage = async <T>(name: Stage, shards: number, fn: () => Promise<T>): Promise<T> => {
    Object.assign(status, { stage: name, shardsDone: 0, shardsTotal: shards });
    const t0 = Date.now();
    const out = await fn();
    timings[name] = (Date.now() - t0) / 1000;
    return out;
  };
  const counted = <T>(p: Promise<T>) => p.then((r) => { status.shardsDone++; return r; });

  const prompts = await stage('prompts', 1, () => acts.control.preparePrompts(scope));
  const samples = await stage('sample', prompts.shards.length, () =>
    Promise.all(prompts.shards.map((p, shard) => counted(acts.sample.sampleShard({ ...scope, shard, prompts: p, policy: input.policy })))),
  );
  const scored = await stage('score', samples.length, () =>
    Promise.all(samples.map((s, shard) => counted(
      config.labeler.kind === 'judge'
        ? acts.judge.judgeShard({ ...scope, shard, samples: s.ref })
        : acts.score.scoreShard({ ...scope, shard, samples: s.ref }),
    ))),
  );
  const feedback = await stage('feedback', 1, () => acts.control.buildIterationFeedback({ ...scope, scored: scored.map((s) => s.ref) }));
  const train = await stage('train', 1, () =>
    acts.train.trainPolicy({
      ...scope, feedback: feedback.files?.jsonl ?? null, emptyReason: feedback.stats.empty_reason, policy: input.policy, reference: input.reference, prompts: prompts.shards,
    }),
  );
  const summary = await stage('manifest', 1, () =>
    acts.control.writeIterationManifest({ ...scope, policyIn: input.policy, reference: input.reference, prompts, samples, scored, feedback, train, timings, startedAt }),
  );
  status.stage = 'done';
  return { summary, checkpoint: train.checkpoint };
}
