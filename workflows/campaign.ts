import { allHandlersFinished, condition, continueAsNew, executeChild, setHandler } from '@temporalio/workflow';
import type { CampaignConfig, FileRef, IterationSummary } from '../activities/types';
import { QUEUES } from '../config/queues';
import { activityProxies } from './activity-proxies';
import { iterationWorkflow } from './iteration';
import { CampaignState, campaignStatusQuery, pauseSignal, resumeSignal, stopSignal } from './messages';

/** Carried across continue-as-new: references and a small summary per iteration, never data. */
export interface CampaignCarry {
  nextIteration: number;
  initial: FileRef | null;
  policy: FileRef | null;
  summaries: IterationSummary[];
  paused: boolean;
  stopRequested: boolean;
  spentUsd: number;
  budgetUsd: number | null;
  pauseReason: string | null;
  /** Spent by the iteration in flight when the budget ran out (booked again in full when it completes). */
  partialSpentUsd?: number;
  /** The budget stopped an iteration: resuming needs a new budget. */
  budgetBlocked?: boolean;
}

export interface CampaignInput {
  campaignId: string;
  config: CampaignConfig;
  carry?: CampaignCarry;
}

export interface CampaignResult {
  campaignId: string;
  state: 'completed' | 'stopped';
  summaries: IterationSummary[];
}

export const iterationWorkflowId = (campaignId: string, n: number) => `${campaignId}/iter-${n}`;

export async function campaignWorkflow(input: CampaignInput): Promise<CampaignResult> {
  const { campaignId, config } = input;
  const s: CampaignCarry = input.carry ?? {
    nextIteration: 0,
    initial: null,
    policy: null,
    summaries: [],
    paused: false,
    stopRequested: false,
    spentUsd: 0,
    budgetUsd: config.budget?.usd ?? null,
    pauseReason: null,
  };
  const spent = () => s.spentUsd + (s.partialSpentUsd ?? 0);
  const checkBudget = (force = false) => {
    if (s.budgetUsd !== null && (force || spent() >= s.budgetUsd)) {
      s.paused = true;
      s.pauseReason = `budget reached: $${spent().toFixed(4)} spent of $${s.budgetUsd.toFixed(4)}; raise it with \`alignloop resume ${campaignId} --budget USD\``;
    }
  };
  let current: number | null = null;
  const state = (): CampaignState => {
    if (s.nextIteration >= config.iterations) return 'completed';
    if (s.stopRequested) return current === null ? 'stopped' : 'stopping';
    if (s.paused) return current === null ? 'paused' : 'pausing';
    return 'running';
  };
  setHandler(pauseSignal, () => void (s.paused = true));
  setHandler(resumeSignal, (args) => {
    if (args?.budgetUsd !== undefined) {
      s.budgetUsd = args.budgetUsd;
      s.budgetBlocked = false;
    }
    // An iteration stopped by the budget would stop again at once: only a new budget releases it.
    if (s.budgetBlocked) return;
    s.paused = false;
    s.pauseReason = null;
    checkBudget(); // resuming without enough budget stays paused, with the reason
  });
  setHandler(stopSignal, () => void (s.stopRequested = true));
  setHandler(campaignStatusQuery, () => ({
    campaignId,
    name: config.name,
    state: state(),
    iterations: config.iterations,
    completed: s.nextIteration,
    currentIteration: current,
    childWorkflowId: current === null ? null : iterationWorkflowId(campaignId, current),
    artifactsRoot: config.artifacts.root,
    summaries: s.summaries,
    spentUsd: spent(),
    budgetUsd: s.budgetUsd,
    pauseReason: s.pauseReason,
  }));

  if (!s.initial) {
    const acts = activityProxies(config.durability.heartbeatTimeoutSeconds);
    s.initial = await acts.control.initPolicy({ campaignId, config });
    s.policy = s.initial;
  }
  const finish = (): CampaignResult => ({ campaignId, state: s.nextIteration >= config.iterations ? 'completed' : 'stopped', summaries: s.summaries });
  if (s.nextIteration >= config.iterations || s.stopRequested) return finish();

  checkBudget();
  await condition(() => !s.paused || s.stopRequested);
  if (s.stopRequested) return finish();

  current = s.nextIteration;
  const reference = config.trainer.reference === 'initial' ? s.initial! : s.policy!;
  const out = await executeChild(iterationWorkflow, {
    workflowId: iterationWorkflowId(campaignId, current),
    taskQueue: QUEUES.control,
    args: [{ campaignId, iteration: current, config, policy: s.policy!, reference, budgetUsd: s.budgetUsd === null ? null : s.budgetUsd - s.spentUsd }],
  });
  current = null;
  if (out.budgetExhausted) {
    // Pause, not fail: after `resume --budget`, the same iteration runs again and reads back what it bought.
    s.partialSpentUsd = out.budgetExhausted.spentUsd;
    s.budgetBlocked = true;
    checkBudget(true);
    await condition(allHandlersFinished);
    return continueAsNew<typeof campaignWorkflow>({ campaignId, config, carry: s });
  }
  s.partialSpentUsd = 0;
  s.summaries.push(out.summary);
  s.policy = out.checkpoint;
  s.nextIteration++;
  s.spentUsd += out.summary.costUsd;
  checkBudget();
  if (s.nextIteration >= config.iterations || s.stopRequested) return finish();
  await condition(allHandlersFinished);
  return continueAsNew<typeof campaignWorkflow>({ campaignId, config, carry: s });
}
