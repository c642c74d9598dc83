/**
 * An iteration in two halves, for campaigns whose iterations overlap (schedule.maxPolicyLag > 0):
 * gather (prompts -> sample + label) and learn (feedback -> train -> manifest). The campaign runs the
 * learn half of one iteration while the gather half of the next samples from the newest checkpoint
 * (workflows/pipelined-campaign.ts). Each half is its own child workflow, with the iteration's status
 * query and memo, and turns a failure retrying cannot fix into an answer, as the iteration workflow does.
 */
import { setHandler } from '@temporalio/workflow';
import type { PreparedPrompts, SampledFrom, ScoreShardResult } from '../activities/types';
import { activityProxies } from './activity-proxies';
import { describeFailure, StageFailure } from './failures';
import { indexing, IterationInput, IterationOutput, learnStages, pipelinedStages, publish, scopeOf, stageRunner } from './iteration';
import { IterationStatus, iterationStatusQuery } from './messages';

/** What a finished gather hands to its learn half: references and counts only. */
export interface Gathered {
  prompts: PreparedPrompts;
  shards: number;
  timings: Record<string, number>;
  startedAt: string;
  /** What labeling the shards cost (the judge), booked with the iteration once it is learned. */
  costUsd: number;
  sampledFrom: SampledFrom;
}

export interface GatherInput extends Omit<IterationInput, 'reference' | 'configChanges'> {
  sampledFrom: SampledFrom;
}

export type GatherOutput =
  | { gathered: Gathered; budgetExhausted?: undefined; failed?: undefined }
  | { budgetExhausted: { message: string; spentUsd: number }; gathered?: undefined; failed?: undefined }
  | { failed: StageFailure; gathered?: undefined; budgetExhausted?: undefined };

export interface LearnInput extends IterationInput {
  gathered: Gathered;
}

/** Runs one half with the iteration's status query and memo; a failure retrying cannot fix becomes `{ failed }`. */
async function half<T>(
  iteration: number,
  searchAttributes: boolean | undefined,
  run: (status: IterationStatus) => Promise<T>,
): Promise<T | { failed: StageFailure }> {
  const status: IterationStatus = { iteration, stage: 'starting', shardsDone: 0, shardsTotal: 0 };
  if (searchAttributes === true) indexing.set(status, { stage: 'starting' });
  setHandler(iterationStatusQuery, () => status);
  try {
    return await run(status);
  } catch (e) {
    const failed = describeFailure(e, iteration, status.stage);
    if (!failed) throw e;
    status.stage = 'failed';
    publish(status);
    return { failed };
  }
}

/** Prompts, then sample and label as one pipeline, from the checkpoint the campaign pinned for this iteration. */
export async function gatherWorkflow(input: GatherInput): Promise<GatherOutput> {
  return half(input.iteration, input.searchAttributes, async (status): Promise<GatherOutput> => {
    const full: IterationInput = { ...input, reference: input.policy };
    const scope = scopeOf(full);
    const timings: Record<string, number> = {};
    const startedAt = new Date().toISOString();
    const stage = stageRunner(scope, status, timings);
    const control = activityProxies(input.config.durability).controlLocal;
    const prompts = await stage('prompts', 1, () =>
      control.preparePrompts.executeWithOptions({ summary: `prepare prompts · iteration ${input.iteration}` }, [scope]),
    );
    const { outcomes } = await pipelinedStages(full, prompts.shards, status, timings, input.sampledFrom);
    const short = outcomes.filter((o): o is { message: string; spentUsd: number } => !('ref' in o));
    status.stage = 'done';
    publish(status);
    if (short.length > 0) return { budgetExhausted: { message: short[0].message, spentUsd: Math.max(...short.map((b) => b.spentUsd)) } };
    const costUsd = (outcomes as ScoreShardResult[]).reduce((a, o) => a + (o.cost?.usd ?? 0), 0);
    return { gathered: { prompts, shards: outcomes.length, timings, startedAt, costUsd, sampledFrom: input.sampledFrom } };
  });
}

/** Feedback, train and manifest on what the gather half sampled and labelled. */
export async function learnWorkflow(input: LearnInput): Promise<IterationOutput> {
  return half(input.iteration, input.searchAttributes, (status) => {
    const { gathered } = input;
    const timings = { ...gathered.timings };
    const control = activityProxies(input.config.durability).controlLocal;
    return learnStages(input, status, timings, { control, prompts: gathered.prompts, startedAt: gathered.startedAt, results: { shards: gathered.shards } });
  });
}
