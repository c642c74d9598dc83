import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ConfigChange } from '../config/config-changes';
import type { CampaignConfig, IterationSummary } from '../activities/types';
import type { StageFailure } from './failures';

export type Stage = 'starting' | 'prompts' | 'sample' | 'score' | 'feedback' | 'train' | 'eval' | 'manifest' | 'done' | 'failed';

export interface IterationStatus {
  iteration: number;
  stage: Stage;
  shardsDone: number;
  shardsTotal: number;
  /** Sample and label run as a pipeline: shards sampled and labelled so far (absent in iterations that predate it). */
  sampled?: number;
  labelled?: number;
  /** This iteration evaluates its checkpoint (eval:) after training. */
  evaluates?: boolean;
  /** eval.queue: eval: the queue its eval answers are sampled and scored on. */
  evalQueue?: string;
}

/**
 * pausing / stopping: requested, the iteration in flight finishes first. failed-paused: a stage
 * failed in a way retrying cannot fix; the campaign waits, alive, for `resume` once the cause is fixed.
 */
export type CampaignState = 'running' | 'pausing' | 'paused' | 'failed-paused' | 'stopping' | 'completed' | 'stopped';

export interface CampaignStatus {
  campaignId: string;
  name: string;
  state: CampaignState;
  iterations: number;
  /** Iterations finished so far. */
  completed: number;
  currentIteration: number | null;
  childWorkflowId: string | null;
  artifactsRoot: string;
  /** The most recent iterations (every iteration is in its manifest and in `alignloop history`). */
  summaries: IterationSummary[];
  spentUsd: number;
  budgetUsd: number | null;
  /** Why the campaign is paused, e.g. the budget was reached, or a stage failed (and what to do). */
  pauseReason: string | null;
  /** The failure a failed-paused campaign waits on. */
  failure: StageFailure | null;
  /** The last signal handled that carried a request id, and the state it left the campaign in. */
  lastRequest: HandledRequest | null;
  /** Config edits accepted and waiting for the next iteration (applied then, and recorded in its manifest). */
  pendingChanges?: ConfigChange[];
  /** Iterations that overlap (schedule.maxPolicyLag > 0): the lag allowed and the halves of iterations in flight or sampled ahead. */
  maxPolicyLag?: number;
  inFlight?: InFlightIteration[];
  /** eval: the best checkpoint so far, and why the stop rule ended the campaign. */
  evaluation?: EvalStatus;
}

export interface EvalStatus {
  bestBy: string;
  best: BestCheckpoint | null;
  /** Evaluations since the best one. */
  sinceBest: number;
  stopReason: string | null;
  /** The hacking guard tripped at the last iteration, when there was nothing left to pause. */
  guardWarning?: string;
}

export interface BestCheckpoint {
  iteration: number;
  value: number;
  checkpoint: string;
  checkpointSha256: string;
  winRate: number | null;
  lcWinRate: number | null;
  rewardMean: number | null;
}

/** One half of an iteration, when iterations overlap: gathering (prompts, sample, label) or learning (feedback, train, manifest). */
export interface InFlightIteration {
  iteration: number;
  half: 'gather' | 'learn';
  /** running; gathered (sampled and labelled, waiting for its turn to train); or waiting to gather (after a pause, failure or budget stop), from its pinned checkpoint. */
  state: 'running' | 'gathered' | 'waiting';
  workflowId: string;
  /** The checkpoint version its samples come from, and how many versions that is behind the one it trains from. */
  sampledFromVersion: number;
  lag: number;
}

export interface HandledRequest {
  id: string;
  state: CampaignState;
  pauseReason: string | null;
}

/**
 * Steering by Updates (campaigns started by 0.4.0 and later, and older ones once their workers run
 * it): each has a synchronous validator, so a refused request is an error to the caller and nothing
 * is recorded. The answer is the campaign's state right after the handler ran.
 */
export interface SteerResult {
  state: CampaignState;
  pauseReason: string | null;
}
export const pauseUpdate = defineUpdate<SteerResult>('pauseCampaign');
export const resumeUpdate = defineUpdate<SteerResult, [{ budgetUsd?: number }]>('resumeCampaign');
export const stopUpdate = defineUpdate<SteerResult>('stopCampaign');
export const setBudgetUpdate = defineUpdate<SteerResult, [{ usd: number }]>('setBudget');
export interface ApplyConfigResult extends SteerResult {
  /** What changes, from which iteration on. */
  applied: ConfigChange[];
  fromIteration: number;
}
/** A config edit (a validated campaign file): applied between iterations; settings that may not change refuse it whole. */
export const applyConfigUpdate = defineUpdate<ApplyConfigResult, [{ config: CampaignConfig }]>('applyConfig');

/** Lets the CLI see that the workflow handled its signal: the id comes back in the memo (`status.lastRequest`). */
export interface SignalArgs {
  requestId?: string;
}
/** Signals: kept for campaigns and CLIs of versions before 0.4.0. */
export const pauseSignal = defineSignal<[SignalArgs?]>('pause');
export interface ResumeArgs extends SignalArgs {
  /** A new campaign budget in USD (after a budget pause). */
  budgetUsd?: number;
}
export const resumeSignal = defineSignal<[ResumeArgs?]>('resume');
/** Finish the current iteration, then end. */
export const stopSignal = defineSignal<[SignalArgs?]>('stop');
export const campaignStatusQuery = defineQuery<CampaignStatus>('campaignStatus');
export const iterationStatusQuery = defineQuery<IterationStatus>('iterationStatus');
