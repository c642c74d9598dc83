/**
 * The rate limiter all judge workers of a campaign share: the bucket state lives in a file on the
 * storage every worker already shares (the artifact root), updated under a lock (proper-lockfile).
 * Limits are per minute, so a lock round-trip per request is cheap; a 429 on one worker holds all.
 */
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { HOST, processAlive } from '../artifacts/host';
import { LockedJsonFile } from './locked-json';
import { block, BucketState, initialState, Limits, parseResetDuration, settle, tryTake } from './bucket';

export interface Lease {
  id: string;
  tokens: number;
}

export class SharedRateLimiter {
  private readonly state: LockedJsonFile<BucketState>;

  constructor(
    dir: string,
    readonly limits: Limits,
    private readonly leaseMs: number,
  ) {
    this.state = new LockedJsonFile(path.join(dir, 'limiter.json'), () => initialState(limits, Date.now()));
  }

  /** Leases of killed processes on this host end at once (their pid is gone), not after a timeout. */
  private update<T>(fn: (s: BucketState, now: number) => { state: BucketState; value: T }): Promise<T> {
    return this.state.update((s, now) => fn({ ...s, inFlight: s.inFlight.filter((f) => !(f.host === HOST && f.pid && !processAlive(f.pid))) }, now));
  }

  /** Waits until a request of about `tokens` tokens may go out under every limit. */
  async acquire(tokens: number): Promise<Lease> {
    const id = randomBytes(6).toString('hex');
    for (;;) {
      const r = await this.update((s, now) => {
        const t = tryTake(s, this.limits, now, tokens, { id, until: now + this.leaseMs, host: HOST, pid: process.pid });
        return { state: t.state, value: t };
      });
      if (r.ok) {
        // Our slot is reserved: wait for it without touching the shared state again.
        if (r.delayMs > 0) await new Promise((res) => setTimeout(res, r.delayMs));
        return { id, tokens };
      }
      await new Promise((res) => setTimeout(res, Math.min(r.waitMs, 1000)));
    }
  }

  async release(lease: Lease, actualTokens: number): Promise<void> {
    await this.update((s, now) => ({ state: settle(s, this.limits, now, lease.id, lease.tokens, actualTokens), value: undefined }));
  }

  /** The server's x-ratelimit-* headers say a window is (nearly) spent: hold every worker until it resets. */
  async holdFromHeaders(h: Headers, nextTokens: number): Promise<void> {
    const holds: number[] = [];
    if (h.get('x-ratelimit-remaining-requests') === '0') holds.push(parseResetDuration(h.get('x-ratelimit-reset-requests')) ?? 0);
    const tok = h.get('x-ratelimit-remaining-tokens');
    if (tok !== null && Number(tok) < nextTokens) holds.push(parseResetDuration(h.get('x-ratelimit-reset-tokens')) ?? 0);
    const ms = Math.max(0, ...holds);
    if (ms > 0) await this.holdUntil(Date.now() + ms);
  }

  /** Hold every worker until `untilMs` (a 429's Retry-After, or headers saying the window is spent). */
  async holdUntil(untilMs: number): Promise<void> {
    await this.update((s, now) => ({ state: block(s, this.limits, now, untilMs), value: undefined }));
  }
}
