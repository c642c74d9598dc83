import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { IterationSummary } from '../activities/types';

export type Stage = 'starting' | 'prompts' | 'sample' | 'score' | 'feedback' | 'train' | 'manifest' | 'done';

export interface IterationStatus {
  iteration: number;
  stage: Stage;
  shardsDone: number;
  shardsTotal: number;
}

/** pausing / stopping: requested, the iteration in flight finishes first. */
export type CampaignState = 'running' | 'pausing' | 'paused' | 'stopping' | 'completed' | 'stopped';

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
  summaries: IterationSummary[];
  spentUsd: number;
  budgetUsd: number | null;
  /** Why the campaign is paused, e.g. the budget was reached. */
  pauseReason: string | null;
}

export const pauseSignal = defineSignal('pause');
export interface ResumeArgs {
  /** A new campaign budget in USD (after a budget pause). */
  budgetUsd?: number;
}
export const resumeSignal = defineSignal<[ResumeArgs?]>('resume');
/** Finish the current iteration, then end. */
export const stopSignal = defineSignal('stop');
export const campaignStatusQuery = defineQuery<CampaignStatus>('campaignStatus');
export const iterationStatusQuery = defineQuery<IterationStatus>('iterationStatus');
