/**
 * What a campaign is doing, read from the Temporal server alone (describe results and the memos the
 * workflows keep), so it tells the truth with no worker running: closed failed / terminated / timed
 * out runs, failed-paused campaigns, activities being retried and why, queues nobody polls.
 */
import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import { ERROR_TYPE, UserError } from '../config/errors';
import { QUEUES, queueOfActivity } from '../config/queues';
import type { CampaignStatus, IterationStatus } from '../workflows/messages';
import { rootCause } from './progress';
import { TrainingProgress, trainingProgressOf } from './training-progress';

export interface CampaignSnapshot {
  campaignId: string;
  /** Temporal's view: RUNNING, COMPLETED, FAILED, TERMINATED, TIMED_OUT, CANCELED. */
  workflowStatus: string;
  /** The workflow's own state, or the closed run's status in lower case. */
  state: string;
  status: Omit<CampaignStatus, 'summaries'> | null;
  iteration: IterationStatus | null;
  /** Iterations that overlap: the progress of the other half in flight (the next iteration's gather). */
  alsoInFlight?: IterationStatus[];
  /** The first activity that is failing and being retried, with its attempt. */
  lastError: string | null;
  retrying: { activity: string; attempt: number; error: string }[];
  /** The running trainer's step/total, loss and rate, from its activity's last heartbeat. */
  training: TrainingProgress | null;
  /** Artifacts moving to or from the object store (store-backed campaigns), from the activities' heartbeats. */
  transfers: StoreTransfer[];
  judgeBatches: string[];
  /** Task queues the campaign waits on that no worker polls. */
  noWorker: string[];
  /** Why a closed run failed. */
  closedFailure: string | null;
  /** What the user can do next. */
  next: string | null;
  /** True when the campaign needs a person: failed, terminated, timed out, or paused on a failure. */
  needsAttention: boolean;
}

export interface StoreTransfer {
  activity: string;
  phase: 'download' | 'upload';
  doneBytes: number;
  totalBytes: number;
  bytesPerSecond: number;
}

/** A heartbeat's store transfer (activities/store/with-store.ts), if it reports one. */
export function storeTransferOf(activity: string, details: unknown): StoreTransfer | null {
  const t = (details as { store?: Partial<StoreTransfer> } | null)?.store;
  if (!t || (t.phase !== 'download' && t.phase !== 'upload')) return null;
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);
  return { activity, phase: t.phase, doneBytes: n(t.doneBytes), totalBytes: n(t.totalBytes), bytesPerSecond: n(t.bytesPerSecond) };
}

const RECENT_POLL_MS = 90_000;

async function queueHasWorker(c: Client, queue: string, kind: 'workflow' | 'activity'): Promise<boolean> {
  const r = await c.workflowService.describeTaskQueue({
    namespace: c.options.namespace,
    taskQueue: { name: queue, kind: 1 },
    taskQueueType: kind === 'workflow' ? 1 : 2,
  });
  const now = Date.now();
  return (r.pollers ?? []).some((p) => {
    const t = p.lastAccessTime;
    const ms = t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : 0;
    return now - ms < RECENT_POLL_MS;
  });
}

function memoOf<T>(d: WorkflowExecutionDescription, key: string): T | null {
  return (d.memo?.[key] as T | undefined) ?? null;
}

const TRAIN_ACTIVITY = 'trainPolicy';

type RawPayload = NonNullable<NonNullable<WorkflowExecutionDescription['raw']['pendingActivities']>[number]['heartbeatDetails']>['payloads'] extends
  (infer P)[] | null | undefined
  ? P
  : never;

async function heartbeatDetails(payload: RawPayload | undefined): Promise<unknown> {
  if (!payload) return null;
  try {
    const { defaultPayloadConverter } = await import('@temporalio/common');
    return defaultPayloadConverter.fromPayload(payload as Parameters<typeof defaultPayloadConverter.fromPayload>[0]);
  } catch {
    return null;
  }
}

async function heartbeatProgress(payload: RawPayload | undefined): Promise<TrainingProgress | null> {
  if (!payload) return null;
  try {
    const { defaultPayloadConverter } = await import('@temporalio/common');
    return trainingProgressOf(defaultPayloadConverter.fromPayload(payload as Parameters<typeof defaultPayloadConverter.fromPayload>[0]));
  } catch {
    return null; // details in a format this client cannot read
  }
}

/** The running trainer's progress in an iteration workflow (for `run`, which follows the campaign by queries). */
export async function trainingProgress(c: Client, iterationWorkflowId: string): Promise<TrainingProgress | null> {
  try {
    const d = await c.workflow.getHandle(iterationWorkflowId).describe();
    const a = (d.raw.pendingActivities ?? []).find((p) => p.activityType?.name === TRAIN_ACTIVITY);
    return a ? await heartbeatProgress(a.heartbeatDetails?.payloads?.[0]) : null;
  } catch {
    return null;
  }
}

export async function campaignSnapshot(c: Client, id: string): Promise<CampaignSnapshot> {
  const { WorkflowNotFoundError } = await import('@temporalio/client');
  const h = c.workflow.getHandle(id);
  let d: WorkflowExecutionDescription;
  try {
    d = await h.describe();
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) throw new UserError(`no campaign with id "${id}"; see \`alignloop list\``);
    throw e;
  }
  const snap: CampaignSnapshot = {
    campaignId: id,
    workflowStatus: d.status.name,
    state: d.status.name.toLowerCase(),
    status: memoOf(d, 'status'),
    iteration: null,
    lastError: null,
    retrying: [],
    training: null,
    transfers: [],
    judgeBatches: [],
    noWorker: [],
    closedFailure: null,
    next: null,
    needsAttention: false,
  };
  if (d.status.name !== 'RUNNING') {
    if (d.status.name !== 'COMPLETED') {
      snap.closedFailure = await h.result().then(
        () => null,
        (e) => rootCause(e),
      );
      snap.needsAttention = true;
      snap.next = `this run of the campaign ended (${snap.state}); its finished iterations are in \`alignloop history ${id}\`; start it again under a new --id`;
    } else if (snap.status) snap.state = snap.status.state;
    return snap;
  }
  if (!snap.status) {
    // A campaign started before the workflows kept their state in the memo: ask a worker, briefly.
    const { campaignStatusQuery } = await import('../workflows/messages');
    snap.status = await Promise.race([h.query(campaignStatusQuery).catch(() => null), new Promise<null>((r) => setTimeout(() => r(null), 3000).unref())]);
  }
  if (snap.status) snap.state = snap.status.state;
  const waiting = new Set<string>();
  if (!(await queueHasWorker(c, QUEUES.control, 'workflow'))) waiting.add(QUEUES.control);
  const child = snap.status?.childWorkflowId;
  // Iterations that overlap: the gather running beside the learn is looked at too.
  const others = (snap.status?.inFlight ?? []).filter((f) => f.state === 'running' && f.workflowId !== child).map((f) => f.workflowId);
  for (const id of [...(child ? [child] : []), ...others]) {
    try {
      const cd = await c.workflow.getHandle(id).describe();
      const progress = (memoOf<IterationStatus>(cd, 'progress') as IterationStatus | null) ?? null;
      if (id === child) snap.iteration = progress;
      else if (progress) (snap.alsoInFlight ??= []).push(progress);
      for (const a of cd.raw.pendingActivities ?? []) {
        const name = a.activityType?.name ?? 'activity';
        // eval.queue: eval: the eval stage's sample and score activities wait on the eval queue.
        const onEvalQueue = snap.iteration?.stage === 'eval' && snap.iteration.evalQueue && (name === 'sampleShard' || name === 'scoreShard');
        const queue = onEvalQueue ? snap.iteration!.evalQueue! : queueOfActivity(name);
        if (queue && !(await queueHasWorker(c, queue, 'activity'))) waiting.add(queue);
        if (name === TRAIN_ACTIVITY) snap.training = await heartbeatProgress(a.heartbeatDetails?.payloads?.[0]);
        const transfer = storeTransferOf(name, await heartbeatDetails(a.heartbeatDetails?.payloads?.[0]));
        if (transfer) snap.transfers.push(transfer);
        const msg = a.lastFailure?.message;
        if (!msg) continue;
        if (a.lastFailure?.applicationFailureInfo?.type === ERROR_TYPE.JudgeBatchPending) {
          snap.judgeBatches.push(msg);
          continue;
        }
        const attempt = a.attempt ?? 1;
        snap.retrying.push({ activity: name, attempt, error: msg });
        snap.lastError ??= `${name} attempt ${attempt}: ${msg}`;
      }
    } catch {
      /* between iterations */
    }
  }
  snap.noWorker = [...waiting];
  if (snap.state === 'failed-paused') {
    snap.needsAttention = true;
    snap.next = `fix the cause, then \`alignloop resume ${id}\` (finished shards are kept, nothing paid is bought again)`;
  } else if (snap.state === 'paused') {
    snap.next = snap.status?.pauseReason?.includes('budget') ? `\`alignloop resume ${id} --budget USD\`` : `\`alignloop resume ${id}\``;
  } else if (snap.noWorker.length) {
    snap.next = `start a worker for ${snap.noWorker.join(', ')}: \`alignloop worker --roles ${snap.noWorker.map((q) => q.replace(/^alignloop-/, '')).join(',')}\``;
  }
  return snap;
}
