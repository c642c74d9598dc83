/** What a stage failure was, in a form the campaign keeps and `alignloop status` shows (workflow code: pure). */
import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure, TemporalFailure } from '@temporalio/workflow';

export interface StageFailure {
  /** The iteration, or null for the campaign's own set-up (the initial policy). */
  iteration: number | null;
  stage: string;
  shard: number | null;
  activity: string | null;
  /** The error kind (config/errors.ts), or a Temporal failure kind such as "TimeoutFailure". */
  errorType: string;
  message: string;
  /** The attempt the activity ended in, when it says. */
  attempt: number | null;
  /** Why Temporal stopped retrying (e.g. RETRY_STATE_NON_RETRYABLE_FAILURE). */
  retryState: string | null;
  at: string;
}

/** Tags a shard's failure with its index, so the record names the shard. */
export class ShardFailure extends Error {
  constructor(
    readonly shard: number,
    readonly failure: unknown,
  ) {
    super(`shard ${shard} failed`);
    this.name = 'ShardFailure';
  }
}

export function tagShard<T>(shard: number, p: Promise<T>): Promise<T> {
  return p.catch((e) => {
    throw new ShardFailure(shard, e);
  });
}

/** The innermost cause that says what went wrong (an activity's ApplicationFailure, a timeout, …). */
function rootOf(e: unknown): unknown {
  let cur = e;
  for (let i = 0; i < 10 && (cur instanceof ActivityFailure || cur instanceof ChildWorkflowFailure) && cur.cause; i++) cur = cur.cause;
  return cur;
}

/** A record of the failure, or null when `e` is not a Temporal failure (a bug in workflow code is left to fail the task). */
export function describeFailure(e: unknown, iteration: number | null, stage: string): StageFailure | null {
  const shard = e instanceof ShardFailure ? e.shard : null;
  const failure = e instanceof ShardFailure ? e.failure : e;
  if (!(failure instanceof TemporalFailure)) return null;
  const root = rootOf(failure);
  const activity = failure instanceof ActivityFailure ? failure.activityType : null;
  const retryState = failure instanceof ActivityFailure || failure instanceof ChildWorkflowFailure ? String(failure.retryState) : null;
  let errorType = (root as Error)?.name ?? 'Error';
  let attempt: number | null = null;
  if (root instanceof ApplicationFailure) {
    errorType = root.type ?? 'ApplicationFailure';
    const d = root.details?.[0] as { attempt?: number } | undefined;
    attempt = typeof d?.attempt === 'number' ? d.attempt : null;
  }
  const message = (root as Error)?.message || (failure as Error).message;
  return { iteration, stage, shard, activity, errorType, message, attempt, retryState, at: new Date().toISOString() };
}

/** The one-line reason a paused-on-failure campaign shows, with what to do next. */
export function failureReason(f: StageFailure, campaignId: string): string {
  const where = `${f.iteration === null ? 'set-up' : `iteration ${f.iteration}`}, stage ${f.stage}${f.shard !== null ? `, shard ${f.shard}` : ''}`;
  const attempt = f.attempt !== null ? ` (attempt ${f.attempt})` : '';
  return `failed in ${where}: ${f.errorType}${attempt}: ${f.message}; fix the cause, then \`alignloop resume ${campaignId}\` retries the iteration (finished shards are kept)`;
}
