import { proxyActivities, RetryPolicy } from '@temporalio/workflow';
import type * as activities from '../activities/campaign-activities';
import { QUEUES } from '../config/queues';

const retry: RetryPolicy = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  maximumAttempts: 20,
  nonRetryableErrorTypes: ['InputError', 'ModelFolderError', 'FeedbackOptionsError', 'ConfigError', 'InvariantViolation', 'JudgeConfigError', 'JudgeSystemicError', 'JudgeBudgetExhausted'],
};

/** Activity stubs per task queue; heartbeat timeouts come from the campaign file. */
export function activityProxies(heartbeatTimeoutSeconds: number) {
  const hb = heartbeatTimeoutSeconds * 1000;
  return {
    // Every activity heartbeats, so one held by a dead worker is retried after the heartbeat
    // timeout rather than after its start-to-close timeout.
    control: proxyActivities<typeof activities>({ taskQueue: QUEUES.control, startToCloseTimeout: '1h', heartbeatTimeout: hb, retry }),
    sample: proxyActivities<typeof activities>({ taskQueue: QUEUES.sample, startToCloseTimeout: '1h', heartbeatTimeout: hb, retry }),
    score: proxyActivities<typeof activities>({ taskQueue: QUEUES.score, startToCloseTimeout: '4h', heartbeatTimeout: hb, retry }),
    judge: proxyActivities<typeof activities>({ taskQueue: QUEUES.judge, startToCloseTimeout: '24h', heartbeatTimeout: hb, retry }),
    train: proxyActivities<typeof activities>({ taskQueue: QUEUES.train, startToCloseTimeout: '24h', heartbeatTimeout: hb, retry }),
  };
}

/**
 * Waiting for a judge batch (up to its 24 h window plus slack): each attempt is one short look, and the
 * retry interval is the poll interval, so nothing is held open and history does not grow per poll.
 */
export function batchPoller(pollSeconds: number, heartbeatTimeoutSeconds: number) {
  return proxyActivities<typeof activities>({
    taskQueue: QUEUES.judge, startToCloseTimeout: '2m', heartbeatTimeout: heartbeatTimeoutSeconds * 1000, scheduleToCloseTimeout: '26h',
    retry: { initialInterval: pollSeconds * 1000, backoffCoefficient: 1, maximumInterval: pollSeconds * 1000, nonRetryableErrorTypes: retry.nonRetryableErrorTypes },
  });
}
