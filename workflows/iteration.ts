import type { ConfigChange } from '../config/config-changes';
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  log,
  patched,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { SEARCH_ATTRIBUTES } from '../config/search-attributes';
import type { FileRef, IterationScope, IterationSummary, PreparedPrompts, SampledFrom, SampleShardResult, ScoreShardResult } from '../activities/types';
import { ERROR_TYPE } from '../config/errors';
import { QUEUES } from '../config/queues';
import { activityProxies, sampleProcess } from './activity-proxies';
import { describeFailure, StageFailure, tagShard } from './failures';
import { labelShard } from './label-stage';
import { evalStage } from './eval-stage';
import type { IterationEvalInput } from '../activities/eval/summary';
import { LabelOutcome, pipelineShards } from './shard-pipeline';
import { iterationStatusQuery, IterationStatus, Stage } from './messages';

export interface IterationInput extends IterationScope {
  policy: FileRef;
  reference: FileRef;
  /** What the judge may still spend in this iteration (campaign budget minus earlier iterations); null = no budget. */
  budgetUsd?: number | null;
  /** The server has alignloop's search attributes registered. */
  searchAttributes?: boolean;
  /** Config edits that take effect with this iteration (recorded in its manifest). */
  configChanges?: ConfigChange[];
  /** eval: set when this iteration evaluates its checkpoint (workflows/eval-stage.ts). */
  eval?: IterationEvalInput;
}

/**
 * Done, or stopped short: the judge budget ran out, or a stage failed for good. Either way the
 * campaign pauses, and a rerun of the iteration redoes nothing that finished (every activity is idempotent).
 */
export type IterationOutput =
  | { summary: IterationSummary; checkpoint: FileRef; budgetExhausted?: undefined; failed?: undefined }
  | { budgetExhausted: { message: string; spentUsd: number }; failed?: undefined }
  | { failed: StageFailure; budgetExhausted?: undefined };

/** Workflow versions (patched()): see docs/upgrading.md. */
const PIPELINED_SHARDS = 'pipelined-shards';
const LOCAL_CONTROL_STEPS = 'local-control-steps';
/** Shards in flight per iteration, for campaigns whose config predates sharding.maxInFlightShards. */
const DEFAULT_WINDOW = 200;

export function budgetOutcome(e: unknown): LabelOutcome {
  const b = budgetFailure(e);
  if (!b) throw e;
  return b;
}

function budgetFailure(e: unknown): { message: string; spentUsd: number } | null {
  const cause = e instanceof ActivityFailure ? e.cause : e;
  if (cause instanceof ApplicationFailure && cause.type === ERROR_TYPE.JudgeBudgetExhausted) {
    const d = (cause.details?.[0] ?? {}) as { spentUsd?: number };
    return { message: cause.message, spentUsd: d.spentUsd ?? 0 };
  }
  return null;
}

/** One iteration: prompts slice -> sample shards -> label shards -> feedback -> train -> manifest. */
export async function iterationWorkflow(input: IterationInput): Promise<IterationOutput> {
  const status: IterationStatus = {
    iteration: input.iteration,
    stage: 'starting',
    shardsDone: 0,
    shardsTotal: 0,
    ...(input.eval ? { evaluates: true, ...(input.config.eval?.queue === 'eval' ? { evalQueue: QUEUES.eval } : {}) } : {}),
  };
  if (input.searchAttributes === true) indexing.set(status, { stage: 'starting' });
  setHandler(iterationStatusQuery, () => status);
  try {
    return await runIteration(input, status);
  } catch (e) {
    // A failure that retrying cannot fix pauses the campaign instead of killing it.
    const failed = describeFailure(e, input.iteration, status.stage);
    if (!failed) throw e;
    status.stage = 'failed';
    publish(status);
    return { failed };
  }
}

/** Per workflow (keyed by its status object, never module state shared between workflows): the stage last indexed. */
export const indexing = new WeakMap<IterationStatus, { stage: string | null }>();

/** Progress in the memo too, so `alignloop status` reads it from the server even when no worker runs. */
export function publish(status: IterationStatus): void {
  upsertMemo({ progress: { ...status } });
  // What the Web UI shows for the running workflow (not recorded in history).
  setCurrentDetails(
    `**iteration ${status.iteration}** · stage ${status.stage}${status.shardsTotal > 1 ? ` · shards ${status.shardsDone}/${status.shardsTotal}` : ''}`,
  );
  const idx = indexing.get(status);
  if (idx && status.stage !== idx.stage) {
    idx.stage = status.stage;
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: status.stage }]);
  }
}

async function runIteration(input: IterationInput, status: IterationStatus): Promise<IterationOutput> {
  const { iteration, config } = input;
  const scope = scopeOf(input);
  const acts = activityProxies(config.durability);
  const timings: Record<string, number> = {};
  const startedAt = new Date().toISOString();
  const stage = stageRunner(input, status, timings);
  const counted = <T>(shard: number, p: Promise<T>) =>
    tagShard(shard, p).then((r) => {
      status.shardsDone++;
      publish(status);
      return r;
    });

  const at = `iteration ${iteration}`;
  // The control steps (prompts, feedback, manifest) as local activities: no task-queue round trip
  // between stages. Iterations started before replay them as activities. Decided first: a patch
  // marker recorded after a local activity's marker in the same workflow task does not replay, so
  // with local steps (newer than pipelining) the pipelined-shards patch is implied, not asked.
  const localSteps = patched(LOCAL_CONTROL_STEPS);
  const control = localSteps ? acts.controlLocal : acts.control;
  const prompts = await stage('prompts', 1, () => control.preparePrompts.executeWithOptions({ summary: `prepare prompts · ${at}` }, [scope]));
  const budgetUsd = input.budgetUsd ?? null;
  const pipelined = localSteps || patched(PIPELINED_SHARDS);
  let samples: SampleShardResult[];
  let outcomes: LabelOutcome[];
  if (pipelined) {
    ({ samples, outcomes } = await pipelinedStages(input, prompts.shards, status, timings));
  } else {
    // Iterations started before the pipeline (replayed from their history) keep the stage barriers.
    samples = await stage('sample', prompts.shards.length, () =>
      Promise.all(
        prompts.shards.map((p, shard) =>
          counted(
            shard,
            acts.sample.sampleShard.executeWithOptions({ summary: `sample shard ${shard}/${prompts.shards.length} · ${at}` }, [
              { ...scope, shard, prompts: p, policy: input.policy },
            ]),
          ),
        ),
      ),
    );
    if (config.sampler.kind === 'managed') await stopManagedServers(acts, scope, samples);
    // Any other failure fails the iteration at once; a spent budget lets the other shards finish what
    // they can (they stop at the same shared budget), then hands the campaign a pause, not a failure.
    outcomes = await stage('score', samples.length, () =>
      Promise.all(samples.map((s, shard) => counted(shard, labelShard(scope, shard, s.ref, budgetUsd).catch(budgetOutcome)))),
    );
  }
  const short = outcomes.filter((o): o is { message: string; spentUsd: number } => !('ref' in o));
  if (short.length > 0) {
    status.stage = 'done';
    publish(status);
    return { budgetExhausted: { message: short[0].message, spentUsd: Math.max(...short.map((b) => b.spentUsd)) } };
  }
  const scored = outcomes as ScoreShardResult[];
  // Pipelined iterations pass the shard count: the activities read each shard's result from its
  // completion manifest, so their payloads do not grow with the number of shards.
  return learnStages(input, status, timings, { control, prompts, startedAt, results: pipelined ? { shards: scored.length } : { samples, scored } });
}

/** Runs one stage of an iteration: shows it in the status, logs it, times it. */
export function stageRunner(input: IterationScope, status: IterationStatus, timings: Record<string, number>) {
  const { campaignId, iteration } = input;
  return async <T>(name: Stage, shards: number, fn: () => Promise<T>): Promise<T> => {
    Object.assign(status, { stage: name, shardsDone: 0, shardsTotal: shards });
    publish(status);
    log.info(`iteration ${iteration}: stage ${name} started`, { campaignId, iteration, stage: name, shards });
    const t0 = Date.now();
    const out = await fn();
    timings[name] = (Date.now() - t0) / 1000;
    log.info(`iteration ${iteration}: stage ${name} done in ${timings[name]} s`, { campaignId, iteration, stage: name, seconds: timings[name] });
    return out;
  };
}

/** The second half of an iteration, once its shards are labelled: feedback -> train -> manifest. */
export async function learnStages(
  input: IterationInput,
  status: IterationStatus,
  timings: Record<string, number>,
  given: {
    control: ReturnType<typeof activityProxies>['control'];
    prompts: PreparedPrompts;
    startedAt: string;
    results: { shards: number } | { samples: SampleShardResult[]; scored: ScoreShardResult[] };
  },
): Promise<IterationOutput> {
  const { iteration, config } = input;
  const { control, prompts, startedAt, results } = given;
  const scope = scopeOf(input);
  const acts = activityProxies(config.durability);
  const stage = stageRunner(input, status, timings);
  const at = `iteration ${iteration}`;
  const feedback = await stage('feedback', 1, () =>
    control.buildIterationFeedback.executeWithOptions({ summary: `build ${config.feedback.type} feedback · ${at}` }, [
      'shards' in results ? { ...scope, shards: results.shards } : { ...scope, scored: results.scored.map((s) => s.ref) },
    ]),
  );
  const train = await stage('train', 1, () =>
    acts.train.trainPolicy.executeWithOptions({ summary: `train (${trainerLabel(config.trainer)}) · ${at}` }, [
      {
        ...scope,
        feedback: feedback.files?.jsonl ?? null,
        emptyReason: feedback.stats.empty_reason,
        policy: input.policy,
        reference: input.reference,
        prompts: prompts.shards,
      },
    ]),
  );
  // Only campaigns with eval: reach this (no older history has input.eval).
  const evaluation = input.eval ? await stage('eval', 1, () => evalStage(scope, input.eval!, train.checkpoint, input.budgetUsd ?? null)) : null;
  if (evaluation && 'budgetExhausted' in evaluation) {
    status.stage = 'done';
    publish(status);
    return { budgetExhausted: evaluation.budgetExhausted };
  }
  const summary = await stage('manifest', 1, () =>
    control.writeIterationManifest.executeWithOptions({ summary: `write manifest · ${at}` }, [
      {
        ...scope,
        policyIn: input.policy,
        reference: input.reference,
        prompts,
        ...results,
        feedback,
        train,
        timings,
        startedAt,
        ...(input.configChanges?.length ? { configChanges: input.configChanges } : {}),
        ...(evaluation ? { eval: evaluation } : {}),
      },
    ]),
  );
  status.stage = 'done';
  publish(status);
  return { summary, checkpoint: train.checkpoint };
}

/** What every activity of the iteration gets; the owner only where the campaign passed one (older histories replay without). */
export function scopeOf(input: IterationInput): IterationScope {
  const { campaignId, iteration, config, campaignRunId } = input;
  return campaignRunId === undefined ? { campaignId, iteration, config } : { campaignId, iteration, config, campaignRunId };
}

export function trainerLabel(t: IterationScope['config']['trainer']): string {
  return t.kind === 'command' ? `${t.preset} ${t.method}` : t.kind === 'builtin' ? `built-in ${t.method}` : 'none';
}

/** Sampling is over: the GPU goes back to scoring and training. Best effort: an idle server also stops itself. */
async function stopManagedServers(acts: ReturnType<typeof activityProxies>, scope: IterationScope, samples: SampleShardResult[]): Promise<void> {
  const queues = [...new Set(samples.map((s) => s.serverQueue).filter((q): q is string => typeof q === 'string'))];
  await Promise.all(
    queues.map((q) =>
      sampleProcess(q)
        .stopManagedSampler({ campaignId: scope.campaignId })
        .catch(() => false),
    ),
  );
  await acts.sample.reapSamplerOrphans(scope).catch(() => 0);
}

/**
 * Sample and label as one pipeline (a shard is labeled as soon as it is sampled), a bounded window of
 * shards in flight. The status shows the sample stage until every shard is sampled, then the label stage.
 */
export async function pipelinedStages(
  input: IterationInput,
  promptShards: FileRef[],
  status: IterationStatus,
  timings: Record<string, number>,
  sampledFrom?: SampledFrom,
) {
  const { campaignId, iteration, config } = input;
  const scope = scopeOf(input);
  const acts = activityProxies(config.durability);
  const n = promptShards.length;
  const t0 = Date.now();
  Object.assign(status, { stage: 'sample', shardsDone: 0, shardsTotal: n, sampled: 0, labelled: 0 });
  publish(status);
  log.info(`iteration ${iteration}: stage sample started (${n} shards, labelled as each is sampled)`, { campaignId, iteration, stage: 'sample', shards: n });
  const serverQueues: SampleShardResult[] = [];
  const show = () => {
    if (status.sampled! < n) Object.assign(status, { stage: 'sample', shardsDone: status.sampled });
    else Object.assign(status, { stage: 'score', shardsDone: status.labelled });
    publish(status);
  };
  // Managed inference servers stop once every shard is sampled, while labeling goes on.
  const stopping = config.sampler.kind === 'managed' ? condition(() => status.sampled === n).then(() => stopManagedServers(acts, scope, serverQueues)) : null;
  const window = (config.sharding as { maxInFlightShards?: number }).maxInFlightShards ?? DEFAULT_WINDOW;
  const out = await pipelineShards(
    scope,
    { prompts: promptShards, policy: input.policy, budgetUsd: input.budgetUsd ?? null, window, ...(sampledFrom ? { sampledFrom } : {}) },
    {
      sampled: (_shard, s) => {
        serverQueues.push(s);
        status.sampled!++;
        if (status.sampled === n) {
          timings.sample = (Date.now() - t0) / 1000;
          log.info(`iteration ${iteration}: stage sample done in ${timings.sample} s; stage score started`, { campaignId, iteration, stage: 'score' });
        }
        show();
      },
      labelled: () => {
        status.labelled!++;
        show();
      },
      recover: budgetOutcome,
    },
  );
  // Labeling overlaps sampling: `score` is the time labeling went on after the last shard was sampled, so the stages add up to the wall time.
  timings.score = (Date.now() - t0) / 1000 - (timings.sample ?? 0);
  log.info(`iteration ${iteration}: stage score done in ${timings.score} s after the last shard was sampled`, { campaignId, iteration, stage: 'score' });
  if (stopping) await stopping;
  return out;
}
