import {
  allHandlersFinished,
  condition,
  executeChild,
  log,
  makeContinueAsNewFunc,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { SEARCH_ATTRIBUTES } from '../config/search-attributes';
import type { CampaignConfig, FileRef, IterationSummary } from '../activities/types';
import { QUEUES } from '../config/queues';
import { activityProxies } from './activity-proxies';
import { describeFailure, failureReason, StageFailure } from './failures';
import { iterationWorkflow } from './iteration';
import { CampaignState, CampaignStatus, campaignStatusQuery, HandledRequest, pauseSignal, resumeSignal, stopSignal } from './messages';

/**
 * Carried across continue-as-new: references and the last few iterations' summaries, never data, so
 * its size stays constant however many iterations a campaign runs (every summary is in its
 * iteration's manifest; `alignloop history` reads them there).
 */
export interface CampaignCarry {
  nextIteration: number;
  initial: FileRef | null;
  policy: FileRef | null;
  /** The most recent RECENT_SUMMARIES iterations. */
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
  /** The failure the campaign is paused on (cleared by resume, which retries the iteration). */
  failure?: StageFailure | null;
}

export interface CampaignInput {
  campaignId: string;
  config: CampaignConfig;
  carry?: CampaignCarry;
  /** The server has alignloop's search attributes registered (see config/search-attributes.ts). */
  searchAttributes?: boolean;
}

export interface CampaignResult {
  campaignId: string;
  state: 'completed' | 'stopped';
  /** The most recent iterations (all of them in campaigns of up to RECENT_SUMMARIES iterations). */
  summaries: IterationSummary[];
}

export const RECENT_SUMMARIES = 20;

export const iterationWorkflowId = (campaignId: string, n: number) => `${campaignId}/iter-${n}`;

export async function campaignWorkflow(input: CampaignInput): Promise<CampaignResult> {
  const { campaignId, config } = input;
  const visible = input.searchAttributes === true;
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
  const pauseOnFailure = (f: StageFailure) => {
    s.failure = f;
    s.paused = true;
    s.pauseReason = failureReason(f, campaignId);
  };
  let current: number | null = null;
  let lastRequest: HandledRequest | null = null;
  const state = (): CampaignState => {
    if (s.nextIteration >= config.iterations) return 'completed';
    if (s.stopRequested) return current === null ? 'stopped' : 'stopping';
    if (s.paused && s.failure && current === null) return 'failed-paused';
    if (s.paused) return current === null ? 'paused' : 'pausing';
    return 'running';
  };
  const status = (): CampaignStatus => ({
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
    failure: s.failure ?? null,
    lastRequest,
  });
  // The state in the memo too, so `alignloop status` reads it from the server even when no worker runs.
  let indexed = '';
  let logged = '';
  const publish = () => {
    const { summaries: _omitted, ...small } = status();
    upsertMemo({ status: small });
    setCurrentDetails(
      `**${small.name}** · ${small.state} · ${small.completed}/${small.iterations} iterations done` +
        (small.currentIteration !== null ? ` · iteration ${small.currentIteration} running` : '') +
        (small.pauseReason ? `\n\n${small.pauseReason}` : ''),
    );
    // Lifecycle in the worker's log (the workflow logger skips replays, so each line is written once).
    const lifecycle = `${small.state}|${small.currentIteration ?? '-'}`;
    if (lifecycle !== logged) {
      logged = lifecycle;
      log.info(
        `campaign ${campaignId}: ${small.state}${small.currentIteration !== null ? `, iteration ${small.currentIteration}` : ''} (${small.completed}/${small.iterations} done)`,
        { campaignId, state: small.state, iteration: small.currentIteration, completed: small.completed },
      );
    }
    // Search attributes only when they change: each upsert is a history event.
    const key = `${small.state}|${small.currentIteration ?? small.completed}`;
    if (visible && key !== indexed) {
      indexed = key;
      upsertSearchAttributes([
        { key: SEARCH_ATTRIBUTES.state, value: small.state },
        { key: SEARCH_ATTRIBUTES.iteration, value: small.currentIteration ?? small.completed },
      ]);
    }
  };
  // What the signal did, as it was handled (later changes, such as a fast new failure, do not rewrite it).
  const handled = (requestId: string | undefined) => {
    lastRequest = requestId ? { id: requestId, state: state(), pauseReason: s.pauseReason } : null;
    publish();
  };
  setHandler(pauseSignal, (args) => {
    s.paused = true;
    handled(args?.requestId);
  });
  setHandler(resumeSignal, (args) => {
    if (args?.budgetUsd !== undefined) {
      s.budgetUsd = args.budgetUsd;
      s.budgetBlocked = false;
    }
    // An iteration stopped by the budget would stop again at once: only a new budget releases it.
    if (!s.budgetBlocked) {
      s.paused = false;
      s.pauseReason = null;
      s.failure = null; // the failed iteration is retried; what it finished is kept
      checkBudget(); // resuming without enough budget stays paused, with the reason
    }
    handled(args?.requestId);
  });
  setHandler(stopSignal, (args) => {
    s.stopRequested = true;
    handled(args?.requestId);
  });
  setHandler(campaignStatusQuery, status);

  // The next run starts with this run's memo, so `status` never sees a run without its state.
  const continueWith = (carry: CampaignCarry) =>
    makeContinueAsNewFunc<typeof campaignWorkflow>({ memo: workflowInfo().memo })({
      campaignId,
      config,
      carry,
      ...(visible ? { searchAttributes: true } : {}),
    });
  const finish = (): CampaignResult => {
    publish();
    return { campaignId, state: s.nextIteration >= config.iterations ? 'completed' : 'stopped', summaries: s.summaries };
  };
  const waitWhilePaused = async () => {
    publish();
    await condition(() => !s.paused || s.stopRequested);
  };

  while (!s.initial) {
    try {
      s.initial = await activityProxies(config.durability).control.initPolicy({ campaignId, config });
      s.policy = s.initial;
    } catch (e) {
      const f = describeFailure(e, null, 'initial policy');
      if (!f) throw e;
      pauseOnFailure(f);
      await waitWhilePaused();
      if (s.stopRequested) return finish();
    }
  }
  if (s.nextIteration >= config.iterations || s.stopRequested) return finish();

  checkBudget();
  await waitWhilePaused();
  if (s.stopRequested) return finish();

  current = s.nextIteration;
  publish();
  const reference = 'reference' in config.trainer && config.trainer.reference === 'previous' ? s.policy! : s.initial;
  let out;
  try {
    out = await executeChild(iterationWorkflow, {
      workflowId: iterationWorkflowId(campaignId, current),
      taskQueue: QUEUES.control,
      args: [
        {
          campaignId,
          iteration: current,
          config,
          policy: s.policy!,
          reference,
          budgetUsd: s.budgetUsd === null ? null : s.budgetUsd - s.spentUsd,
          ...(visible ? { searchAttributes: true } : {}),
        },
      ],
      ...(visible
        ? {
            typedSearchAttributes: [
              { key: SEARCH_ATTRIBUTES.campaign, value: campaignId },
              { key: SEARCH_ATTRIBUTES.iteration, value: current },
              { key: SEARCH_ATTRIBUTES.stage, value: 'starting' },
            ],
          }
        : {}),
    });
  } catch (e) {
    // The iteration workflow itself ended badly (terminated, timed out): pause, do not die.
    const f = describeFailure(e, current, 'iteration');
    if (!f) throw e;
    out = { failed: f };
  }
  current = null;
  if (out.budgetExhausted || out.failed) {
    // Pause, not fail: after `resume` (with a new budget, or once the cause is fixed), the same
    // iteration runs again and reads back what it finished or bought.
    if (out.budgetExhausted) {
      s.partialSpentUsd = out.budgetExhausted.spentUsd;
      s.budgetBlocked = true;
      checkBudget(true);
    } else {
      pauseOnFailure(out.failed);
    }
    publish();
    await condition(allHandlersFinished);
    return continueWith(s);
  }
  s.partialSpentUsd = 0;
  s.summaries.push(out.summary);
  if (s.summaries.length > RECENT_SUMMARIES) s.summaries.splice(0, s.summaries.length - RECENT_SUMMARIES);
  s.policy = out.checkpoint;
  s.nextIteration++;
  s.spentUsd += out.summary.costUsd;
  checkBudget();
  if (s.nextIteration >= config.iterations || s.stopRequested) return finish();
  publish();
  await condition(allHandlersFinished);
  return continueWith(s);
}
