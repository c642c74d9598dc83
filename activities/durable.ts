/**
 * What every campaign activity shares: its errors classified for Temporal from the one error model,
 * heartbeats while it runs, and idempotence (a retried activity that finds its recorded output
 * returns it instead of redoing the work; see docs/durability.md).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { AlignloopError } from '../config/errors';
import { boundDetails, boundStack, boundText, FAILURE_BYTES } from '../config/failure-size';
import { redact } from '../config/redact';
import { DoneManifest, FileRef, findComplete, markComplete } from './artifacts/store';

/**
 * Errors of the error model become failures of their type (non-retryable where the model says so),
 * with the attempt they ended in, so the campaign can record it; anything else is retried. Every
 * failure is bounded in size (config/failure-size.ts), so the server never replaces it.
 */
export function toActivityFailure(e: unknown): unknown {
  if (!(e instanceof AlignloopError)) {
    // Still a retryable failure of the same type, but with secrets redacted from its message and stack.
    const err = e as Error;
    const message = boundText(redact(err?.message ?? String(e)), FAILURE_BYTES.message);
    const f = ApplicationFailure.create({ message, type: err?.name ?? 'Error' });
    f.stack = boundStack(redact(err?.stack ?? f.stack ?? ''), err?.name ?? 'Error', message);
    return f;
  }
  let attempt: number | null = null;
  try {
    attempt = Context.current().info.attempt;
  } catch {
    /* not inside an activity (a unit test) */
  }
  const [first, ...rest] = e.details();
  const details = boundDetails([{ ...(first as object | undefined), attempt }, ...rest]);
  const message = boundText(redact(e.message), FAILURE_BYTES.message);
  const f = ApplicationFailure.create({ message, type: e.name, nonRetryable: !e.retryable, details });
  f.stack = boundStack(redact(e.stack ?? ''), e.name, message);
  return f;
}

/** The progress each running activity last reported (its Context is the key). */
const lastProgress = new WeakMap<object, unknown>();

/**
 * Heartbeats progress details (a trainer's step, total, loss), which `status` reads from the server.
 * guarded's keep-alive beat repeats them: a beat without details would replace them.
 */
export function beat(details: unknown): void {
  const ctx = Context.current();
  lastProgress.set(ctx, details);
  ctx.heartbeat(details);
}

/** Classifies errors and heartbeats every second while fn runs (so a dead worker is noticed fast). */
export async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  const beat = setInterval(() => {
    const ctx = Context.current();
    ctx.heartbeat(lastProgress.get(ctx));
  }, 1000);
  try {
    injectTestFault();
    return await fn();
  } catch (e) {
    throw toActivityFailure(e);
  } finally {
    clearInterval(beat);
  }
}

/**
 * Returns the recorded output at `file` when it is complete and hash-valid, else computes it
 * (guarded: classified errors, heartbeats) and records it with its completion manifest.
 */
export async function once<E>(file: string, compute: () => Promise<{ ref: FileRef; extra: E }>): Promise<{ ref: FileRef } & E> {
  const done: DoneManifest<E> | null = findComplete<E>(file);
  if (done) return { ref: done.ref, ...done.extra };
  return guarded(async () => {
    const { ref, extra } = await compute();
    markComplete(ref, extra);
    return { ref, ...extra };
  });
}

export function refOf(written: { path: string; sha256: string; bytes: number }, count: number): FileRef {
  return { path: written.path, sha256: written.sha256, bytes: written.bytes, count };
}

/**
 * Fault injection for outage tests: ALIGNLOOP_TEST_FAIL_ACTIVITY=<activity type> fails that activity
 * with a transient error for its first ALIGNLOOP_TEST_FAIL_ATTEMPTS attempts in this worker.
 */
function injectTestFault(): void {
  const name = process.env.ALIGNLOOP_TEST_FAIL_ACTIVITY;
  if (!name) return;
  const info = Context.current().info;
  if (info.activityType === name && info.attempt <= Number(process.env.ALIGNLOOP_TEST_FAIL_ATTEMPTS ?? 0)) {
    throw new Error(`injected transient failure (attempt ${info.attempt})`);
  }
}

/** Fault injection for crash tests: ALIGNLOOP_TEST_SLOW_MS slows each batch / epoch in this worker. */
export async function testSlowdown(): Promise<void> {
  const ms = Number(process.env.ALIGNLOOP_TEST_SLOW_MS ?? 0);
  if (ms > 0) await new Promise((r) => setTimeout(r, ms));
}
