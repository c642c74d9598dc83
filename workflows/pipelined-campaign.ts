/**
 * One run of a campaign whose iterations overlap (schedule.maxPolicyLag > 0): iteration i learns
 * (feedback, train, manifest) while the next iterations gather (prompts, sample, label) from the
 * newest checkpoint, at most maxPolicyLag versions behind the one they will train from. The run
 * waits for both, then continues-as-new with what was gathered ahead in its carry, so nothing is in
 * flight across continue-as-new. Training stays strictly sequential.
 */
import { allHandlersFinished, condition, executeChild } from '@temporalio/workflow';
import type { ConfigChange } from '../config/config-changes';
import { QUEUES } from '../config/queues';
import { SEARCH_ATTRIBUTES } from '../config/search-attributes';
import type { CampaignConfig } from '../activities/types';
import { AheadIteration, CampaignCarry, CampaignMachine, maxPolicyLag } from './campaign-state';
import { describeFailure, StageFailure } from './failures';
import { gatherWorkflow, GatherOutput, learnWorkflow } from './gather-learn';
import type { IterationOutput } from './iteration';
import type { InFlightIteration } from './messages';

export const gatherWorkflowId = (campaignId: string, n: number) => `${campaignId}/iter-${n}/gather`;
export const learnWorkflowId = (campaignId: string, n: number) => `${campaignId}/iter-${n}/learn`;

export interface PipelineRun<R> {
  m: CampaignMachine;
  campaignId: string;
  owner: { campaignRunId?: string };
  visible: boolean;
  /** Config edits that apply from this run's iteration (recorded in its manifest). */
  configChanges: ConfigChange[];
  publish(): void;
  continueWith(carry: CampaignCarry): Promise<R>;
  finish(): R;
}

/** What `status` shows of the iterations in flight or sampled ahead. */
export function inFlight(m: CampaignMachine, campaignId: string): InFlightIteration[] {
  const i = m.s.nextIteration;
  return (m.s.ahead ?? []).map((a): InFlightIteration => {
    const lag = a.iteration - a.sampledFrom.version;
    const base = { iteration: a.iteration, sampledFromVersion: a.sampledFrom.version, lag };
    if (a.iteration === i && m.current === i) return { ...base, half: 'learn', state: 'running', workflowId: learnWorkflowId(campaignId, i) };
    if (m.gathering === a.iteration) return { ...base, half: 'gather', state: 'running', workflowId: gatherWorkflowId(campaignId, a.iteration) };
    return { ...base, half: 'gather', state: a.gathered ? 'gathered' : 'waiting', workflowId: gatherWorkflowId(campaignId, a.iteration) };
  });
}

export async function runPipelined<R>(r: PipelineRun<R>): Promise<R> {
  const { m, campaignId, owner, visible } = r;
  const s = m.s;
  const i = s.nextIteration;
  const lag = maxPolicyLag(m.config);
  const config = m.config;
  const childOptions = (id: string, n: number, stage: string) => ({
    workflowId: id,
    taskQueue: QUEUES.control,
    ...(visible
      ? {
          typedSearchAttributes: [
            { key: SEARCH_ATTRIBUTES.campaign, value: campaignId },
            { key: SEARCH_ATTRIBUTES.iteration, value: n },
            { key: SEARCH_ATTRIBUTES.stage, value: stage },
          ],
        }
      : {}),
  });
  const gather = async (a: AheadIteration, cfg: CampaignConfig): Promise<GatherOutput> => {
    m.gathering = a.iteration;
    r.publish();
    try {
      return await executeChild(gatherWorkflow, {
        ...childOptions(gatherWorkflowId(campaignId, a.iteration), a.iteration, 'starting'),
        args: [
          {
            campaignId,
            iteration: a.iteration,
            config: cfg,
            ...owner,
            policy: a.policy,
            sampledFrom: a.sampledFrom,
            budgetUsd: m.budgetLeft(),
            ...(visible ? { searchAttributes: true } : {}),
          },
        ],
      });
    } catch (e) {
      const failed = describeFailure(e, a.iteration, 'gather');
      if (!failed) throw e;
      return { failed };
    } finally {
      m.gathering = null;
      r.publish();
    }
  };
  const pauseOn = (out: { failed?: StageFailure; budgetExhausted?: { spentUsd: number } }) => {
    if (out.budgetExhausted) m.budgetExhausted(out.budgetExhausted.spentUsd);
    else if (out.failed) m.pauseOnFailure(out.failed);
  };
  const keepChanges = () => {
    // Edits that applied to an iteration that did not finish stay recorded for its rerun.
    if (r.configChanges.length) s.pendingChanges = [...r.configChanges, ...(s.pendingChanges ?? [])];
  };
  const pauseAndContinue = async () => {
    keepChanges();
    r.publish();
    await condition(allHandlersFinished);
    return r.continueWith(s);
  };

  // 1. This iteration's own gather, unless it was gathered ahead in an earlier run.
  const head = m.head();
  if (!head.gathered) {
    const out = await gather(head, config);
    if (!out.gathered) {
      pauseOn(out);
      return pauseAndContinue();
    }
    head.gathered = out.gathered;
  }

  // 2. Learn this iteration while the next ones gather, from the checkpoint this one trains from.
  m.current = i;
  r.publish();
  let learning = true;
  const reference = 'reference' in config.trainer && config.trainer.reference === 'previous' ? s.policy! : s.initial!;
  const learn = executeChild(learnWorkflow, {
    ...childOptions(learnWorkflowId(campaignId, i), i, 'feedback'),
    args: [
      {
        campaignId,
        iteration: i,
        config,
        ...owner,
        policy: s.policy!,
        reference,
        gathered: head.gathered,
        // Feedback and training spend nothing; an eval judge after training spends the campaign's budget.
        budgetUsd: config.eval?.judge ? m.budgetLeft() : null,
        ...m.evalInput(i),
        ...(visible ? { searchAttributes: true } : {}),
        ...(r.configChanges.length ? { configChanges: r.configChanges } : {}),
      },
    ],
  })
    .catch((e): IterationOutput => {
      const failed = describeFailure(e, i, 'learn');
      if (!failed) throw e;
      return { failed };
    })
    .finally(() => (learning = false));
  const ahead = (async (): Promise<GatherOutput | null> => {
    // A new iteration starts gathering only while this one trains: once it is trained, the next run
    // gathers from the fresher checkpoint instead.
    for (let a = m.nextAhead(lag, learning); a; a = m.nextAhead(lag, learning)) {
      const out = await gather(a, config);
      if (!out.gathered) return out;
      a.gathered = out.gathered;
    }
    return null;
  })();
  const [learned, aheadOut] = await Promise.all([learn, ahead]);
  m.current = null;

  // 3. Book what finished; a failure in either half pauses the campaign, keeping the other's work.
  const ok = 'summary' in learned;
  if (ok) m.learned(learned.summary, learned.checkpoint);
  else {
    pauseOn(learned);
    keepChanges();
  }
  // A gather that failed (or ran out of budget) keeps its pin: the rerun samples from the same checkpoint.
  if (ok && aheadOut) pauseOn(aheadOut);
  if (ok && (s.nextIteration >= m.config.iterations || s.stopRequested)) return r.finish();
  r.publish();
  await condition(allHandlersFinished);
  return r.continueWith(s);
}
