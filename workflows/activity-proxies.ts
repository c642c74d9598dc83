import { proxyActivities, proxyLocalActivities, RetryPolicy } from '@temporalio/workflow';
import type { ControlActivities } from '../activities/queues/control';
import type { EvalActivities } from '../activities/queues/eval';
import type { JudgeActivities, ScoreActivities } from '../activities/queues/label';
import type { SampleActivities, SampleProcessActivities } from '../activities/queues/sample';
import type { TrainActivities } from '../activities/queues/train';
import { NON_RETRYABLE_ERROR_TYPES } from '../config/errors';
import { QUEUES } from '../config/queues';
import type { CampaignConfig } from '../activities/campaign/schema';

/** Optional fields: campaigns started before they existed carry configs without them. */
type Durability = Pick<CampaignConfig['durability'], 'heartbeatTimeoutSeconds'> & Partial<CampaignConfig['durability']>;

/**
 * Transient errors retry with backoff and no attempt cap: an outage of hours is waited out (the
 * interval is capped, not the count). What retrying cannot fix is non-retryable by the error model,
 * and the iteration turns it into a pause of the campaign.
 */
function retryPolicy(d: Durability): RetryPolicy {
  return {
    initialInterval: (d.retryInitialSeconds ?? 1) * 1000,
    backoffCoefficient: 2,
    maximumInterval: Math.max(d.retryMaxIntervalSeconds ?? 60, d.retryInitialSeconds ?? 1) * 1000,
    nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
  };
}

/** Activity stubs, one per task queue and typed by that queue's activities; heartbeat timeout and retry intervals come from the campaign file. */
export function activityProxies(d: Durability) {
  const hb = d.heartbeatTimeoutSeconds * 1000;
  const retry = retryPolicy(d);
  // Every activity heartbeats, so one held by a dead worker is retried after the heartbeat
  // timeout rather than after its start-to-close timeout.
  return {
    control: proxyActivities<ControlActivities>({ taskQueue: QUEUES.control, startToCloseTimeout: '1h', heartbeatTimeout: hb, retry }),
    // The same control steps run in the worker that runs the workflow (they read and write the
    // artifact store, as the control worker does): no task-queue round trip between stages.
    controlLocal: proxyLocalActivities<ControlActivities>({ startToCloseTimeout: '1h', localRetryThreshold: '10s', retry }),
    evalLocal: proxyLocalActivities<EvalActivities>({ startToCloseTimeout: '1h', localRetryThreshold: '10s', retry }),
    sample: proxyActivities<SampleActivities>({ taskQueue: QUEUES.sample, startToCloseTimeout: '24h', heartbeatTimeout: hb, retry }),
    score: proxyActivities<ScoreActivities>({ taskQueue: QUEUES.score, startToCloseTimeout: '4h', heartbeatTimeout: hb, retry }),
    judge: proxyActivities<JudgeActivities>({ taskQueue: QUEUES.judge, startToCloseTimeout: '24h', heartbeatTimeout: hb, retry }),
    // eval.queue: eval: the same sample and score activities, on the eval queue's workers.
    evalQueue: proxyActivities<Pick<SampleActivities, 'sampleShard'> & Pick<ScoreActivities, 'scoreShard'>>({
      taskQueue: QUEUES.eval,
      startToCloseTimeout: '24h',
      heartbeatTimeout: hb,
      retry,
    }),
    train: proxyActivities<TrainActivities>({ taskQueue: QUEUES.train, startToCloseTimeout: '24h', heartbeatTimeout: hb, retry }),
  };
}

/**
 * Waiting for a judge batch (up to its 24 h window plus slack): each attempt is one short look, and the
 * retry interval is the poll interval, so nothing is held open and history does not grow per poll.
 */
export function batchPoller(pollSeconds: number, d: Durability) {
  return proxyActivities<Pick<JudgeActivities, 'awaitJudgeBatch'>>({
    taskQueue: QUEUES.judge,
    startToCloseTimeout: '2m',
    heartbeatTimeout: d.heartbeatTimeoutSeconds * 1000,
    scheduleToCloseTimeout: '26h',
    retry: {
      initialInterval: pollSeconds * 1000,
      backoffCoefficient: 1,
      maximumInterval: pollSeconds * 1000,
      nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
    },
  });
}

/**
 * The worker process that runs a managed inference server, by its own queue. One attempt, a short
 * schedule-to-start: a process that is gone left its server to be reaped by `reapSamplerOrphans`.
 */
export function sampleProcess(taskQueue: string) {
  return proxyActivities<SampleProcessActivities>({
    taskQueue,
    scheduleToStartTimeout: '30s',
    startToCloseTimeout: '5m',
    retry: { maximumAttempts: 1 },
  });
}
