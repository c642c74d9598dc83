/**
 * Lifecycle lines (a server started or stopped, a trainer started, a checkpoint accepted) through the
 * SDK's activity logger, so they reach the worker's log with the activity's context (workflow id,
 * activity type, attempt). Outside an activity (an idle timer, worker shutdown) nothing is logged.
 */
import { Context } from '@temporalio/activity';

export function lifecycle(message: string, meta: Record<string, unknown> = {}): void {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    return;
  }
  ctx.log.info(message, meta);
}
