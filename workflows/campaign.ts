import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  executeChild,
  log,
  makeContinueAsNewFunc,
  patched,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { campaignIdProblem } from '../config/campaign-id';
import { SEARCH_ATTRIBUTES } from '../config/search-attributes';
import type { CampaignConfig, IterationSummary } from '../activities/types';
import { QUEUES } from '../config/queues';
import { activityProxies } from './activity-proxies';
import { CampaignCarry, CampaignMachine, maxPolicyLag, SteeringRefused } from './campaign-state';
import { describeFailure } from './failures';
import { iterationWorkflow } from './iteration';
import { inFlight, learnWorkflowId, gatherWorkflowId, runPipelined } from './pipelined-campaign';
import {
  applyConfigUpdate,
  CampaignStatus,
  campaignStatusQuery,
  HandledRequest,
  pauseSignal,
  pauseUpdate,
  resumeSignal,
  resumeUpdate,
  setBudgetUpdate,
  SteerResult,
  stopSignal,
  stopUpdate,
} from './messages';

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

export type { CampaignCarry };
export { RECENT_SUMMARIES } from './campaign-state';

/** Workflow version (patched()): activities learn whose campaign folder it is (see activities/artifacts/campaign-identity.ts). */
const CAMPAIGN_IDENTITY = 'campaign-identity';

export const iterationWorkflowId = (campaignId: string, n: number) => `${campaignId}/iter-${n}`;

export async function campaignWorkflow(input: CampaignInput): Promise<CampaignResult> {
  const { campaignId } = input;
  // A plain Temporal client can start this workflow with any id: refuse one that names no single folder.
  if (patched('trusted-campaign-id')) {
    const problem = campaignIdProblem(campaignId);
    if (problem) throw ApplicationFailure.nonRetryable(problem, 'ConfigError');
  }
  // The first run id survives continue-as-new, so every run of this campaign names the same owner.
  const owner = patched(CAMPAIGN_IDENTITY) ? { campaignRunId: workflowInfo().firstExecutionRunId } : {};
  const visible = input.searchAttributes === true;
  const m = new CampaignMachine(campaignId, input.config, input.carry);
  const s = m.s;
  let lastRequest: HandledRequest | null = null;
  // Iterations overlap (a config setting; an edit back to 0 first learns what was gathered ahead).
  const overlapping = () => maxPolicyLag(m.config) > 0 || (s.ahead?.length ?? 0) > 0;
  const childOf = (): string | null => {
    if (!overlapping()) return m.current === null ? null : iterationWorkflowId(campaignId, m.current);
    if (m.current !== null) return learnWorkflowId(campaignId, m.current);
    return m.gathering === null ? null : gatherWorkflowId(campaignId, m.gathering);
  };
  const status = (): CampaignStatus => ({
    campaignId,
    name: m.config.name,
    state: m.state(),
    iterations: m.config.iterations,
    completed: s.nextIteration,
    currentIteration: m.current,
    childWorkflowId: childOf(),
    artifactsRoot: m.config.artifacts.root,
    summaries: s.summaries,
    spentUsd: m.spent(),
    budgetUsd: s.budgetUsd,
    pauseReason: s.pauseReason,
    failure: s.failure ?? null,
    lastRequest,
    ...(s.pendingChanges?.length ? { pendingChanges: s.pendingChanges } : {}),
    ...(overlapping() ? { maxPolicyLag: maxPolicyLag(m.config), inFlight: inFlight(m, campaignId) } : {}),
    ...m.evalStatus(),
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
    lastRequest = requestId ? { id: requestId, state: m.state(), pauseReason: s.pauseReason } : null;
    publish();
  };
  const steered = (): SteerResult => {
    publish();
    return { state: m.state(), pauseReason: s.pauseReason };
  };
  // Signals: campaigns and CLIs of earlier versions (no validation: they were never refused).
  setHandler(pauseSignal, (args) => {
    m.pause();
    handled(args?.requestId);
  });
  setHandler(resumeSignal, (args) => {
    if (args?.budgetUsd !== undefined) m.setBudget(args.budgetUsd);
    m.resume();
    handled(args?.requestId);
  });
  setHandler(stopSignal, (args) => {
    m.stop();
    handled(args?.requestId);
  });
  // Updates: validated first; a refused one is an error to its caller and leaves no trace in history.
  const refuse = (check: () => void) => () => {
    try {
      check();
    } catch (e) {
      if (e instanceof SteeringRefused) throw ApplicationFailure.nonRetryable(e.message, 'SteeringRefused');
      throw e;
    }
  };
  setHandler(
    pauseUpdate,
    () => {
      m.pause();
      return steered();
    },
    { validator: refuse(() => m.checkPause()) },
  );
  setHandler(
    resumeUpdate,
    (args) => {
      m.resume(args.budgetUsd);
      return steered();
    },
    { validator: (args) => refuse(() => m.checkResume(args.budgetUsd))() },
  );
  setHandler(
    stopUpdate,
    () => {
      m.stop();
      return steered();
    },
    { validator: refuse(() => m.checkStop()) },
  );
  setHandler(
    setBudgetUpdate,
    (args) => {
      m.setBudget(args.usd);
      m.checkBudget();
      return steered();
    },
    { validator: (args) => refuse(() => m.checkBudgetValue(args.usd))() },
  );
  setHandler(
    applyConfigUpdate,
    (args) => {
      const edit = m.applyConfig(args.config);
      return { ...steered(), ...edit };
    },
    { validator: (args) => refuse(() => void m.checkConfig(args.config))() },
  );
  setHandler(campaignStatusQuery, status);

  // The next run starts with this run's memo, so `status` never sees a run without its state.
  const continueWith = (carry: CampaignCarry) =>
    makeContinueAsNewFunc<typeof campaignWorkflow>({ memo: workflowInfo().memo })({
      campaignId,
      config: m.configForNextRun(),
      carry,
      ...(visible ? { searchAttributes: true } : {}),
    });
  const finish = (): CampaignResult => {
    publish();
    return { campaignId, state: s.nextIteration >= m.config.iterations ? 'completed' : 'stopped', summaries: s.summaries };
  };
  const waitWhilePaused = async () => {
    publish();
    await condition(() => !s.paused || s.stopRequested);
  };

  while (!s.initial) {
    try {
      s.initial = await activityProxies(m.config.durability).control.initPolicy({ campaignId, config: m.config, ...owner });
      s.policy = s.initial;
    } catch (e) {
      const f = describeFailure(e, null, 'initial policy');
      if (!f) throw e;
      m.pauseOnFailure(f);
      await waitWhilePaused();
      if (s.stopRequested) return finish();
    }
  }
  if (s.nextIteration >= m.config.iterations || s.stopRequested) return finish();

  m.checkBudget();
  await waitWhilePaused();
  if (s.stopRequested) return finish();

  // Config edits accepted so far apply from this iteration on (and are recorded in its manifest).
  const configChanges = m.takePendingConfig();
  const config = m.config;
  if (s.nextIteration >= config.iterations) return finish(); // the edit lowered the iteration count to what is done
  if (overlapping()) {
    return runPipelined({ m, campaignId, owner, visible, configChanges, publish, continueWith, finish });
  }
  m.current = s.nextIteration;
  publish();
  const reference = 'reference' in config.trainer && config.trainer.reference === 'previous' ? s.policy! : s.initial;
  let out;
  try {
    out = await executeChild(iterationWorkflow, {
      workflowId: iterationWorkflowId(campaignId, m.current),
      taskQueue: QUEUES.control,
      args: [
        {
          campaignId,
          iteration: m.current,
          config,
          ...owner,
          policy: s.policy!,
          reference,
          budgetUsd: s.budgetUsd === null ? null : s.budgetUsd - s.spentUsd,
          ...(visible ? { searchAttributes: true } : {}),
          ...(configChanges.length ? { configChanges } : {}),
          ...m.evalInput(m.current),
        },
      ],
      ...(visible
        ? {
            typedSearchAttributes: [
              { key: SEARCH_ATTRIBUTES.campaign, value: campaignId },
              { key: SEARCH_ATTRIBUTES.iteration, value: m.current },
              { key: SEARCH_ATTRIBUTES.stage, value: 'starting' },
            ],
          }
        : {}),
    });
  } catch (e) {
    // The iteration workflow itself ended badly (terminated, timed out): pause, do not die.
    const f = describeFailure(e, m.current, 'iteration');
    if (!f) throw e;
    out = { failed: f };
  }
  m.current = null;
  if (out.budgetExhausted || out.failed) {
    // Pause, not fail: after `resume` (with a new budget, or once the cause is fixed), the same
    // iteration runs again and reads back what it finished or bought.
    if (out.budgetExhausted) m.budgetExhausted(out.budgetExhausted.spentUsd);
    else m.pauseOnFailure(out.failed);
    // An edit that applied to the failed iteration stays recorded for its rerun.
    if (configChanges.length) s.pendingChanges = [...configChanges, ...(s.pendingChanges ?? [])];
    publish();
    await condition(allHandlersFinished);
    return continueWith(s);
  }
  m.completeIteration(out.summary, out.checkpoint);
  if (s.nextIteration >= m.config.iterations || s.stopRequested) return finish();
  publish();
  await condition(allHandlersFinished);
  return continueWith(s);
}
