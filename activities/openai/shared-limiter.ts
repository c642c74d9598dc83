/**
 * The rate limiter all judge workers of a campaign share: the bucket state lives in a file on the
 * storage every worker already shares (the artifact root), updated under a lock (proper-lockfile).
 * Limits are per minute, so a lock round-trip per request is cheap; a 429 on one worker holds all.
 */
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { HOST, processAlive } from '../artifacts/host';
import { LockedJsonFile } from './locked-json';
import { block, BucketState, effective, initialState, learn, Limits, parseResetDuration, settle, tryTake } from './bucket';

/** How long a release may wait to be written with another update. */
const RELEASE_DELAY_MS = 20;

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

  /** Releases not yet written: applied with the next update (a lock round-trip saved per request). */
  private pending: { lease: Lease; actualTokens: number }[] = [];
  private flushTimer: NodeJS.Timeout | null = null;

  /**
   * Every update first applies the pending releases, then drops leases of killed processes on this
   * host (their pid is gone) at once rather than after a timeout.
   */
  private async update<T>(fn: (s: BucketState, now: number) => { state: BucketState; value: T }): Promise<T> {
    const releases = this.pending.splice(0);
    try {
      return await this.state.update((s0, now) => {
        let s = s0;
        for (const r of releases) s = settle(s, this.limits, now, r.lease.id, r.lease.tokens, r.actualTokens);
        return fn({ ...s, inFlight: s.inFlight.filter((f) => !(f.host === HOST && f.pid && !processAlive(f.pid))) }, now);
      });
    } catch (e) {
      this.pending.unshift(...releases);
      throw e;
    }
  }

  /** Requests of this process waiting for a slot, granted in order; one lock round-trip serves all that fit. */
  private queue: { id: string; tokens: number; resolve: (l: Lease) => void; reject: (e: unknown) => void }[] = [];
  private draining = false;

  /** Waits until a request of about `tokens` tokens may go out under every limit. */
  acquire(tokens: number): Promise<Lease> {
    return new Promise((resolve, reject) => {
      this.queue.push({ id: randomBytes(6).toString('hex'), tokens, resolve, reject });
      if (!this.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.slice();
        let waitMs = 0;
        const granted = await this.update((s0, now) => {
          let s = s0;
          const ok: { id: string; tokens: number; delayMs: number }[] = [];
          for (const q of batch) {
            const t = tryTake(s, this.limits, now, q.tokens, { id: q.id, until: now + this.leaseMs, host: HOST, pid: process.pid });
            s = t.state;
            if (!t.ok) {
              waitMs = t.waitMs;
              break;
            }
            ok.push({ id: q.id, tokens: q.tokens, delayMs: t.delayMs });
          }
          return { state: s, value: ok };
        });
        for (const g of granted) {
          const i = this.queue.findIndex((q) => q.id === g.id);
          const [q] = this.queue.splice(i, 1);
          // The slot is reserved: wait for it, and for any hold (a 429 anywhere) set meanwhile.
          if (g.delayMs > 0) setTimeout(() => void this.afterHolds().then(() => q.resolve({ id: g.id, tokens: g.tokens }), q.reject), g.delayMs);
          else q.resolve({ id: g.id, tokens: g.tokens });
        }
        if (this.queue.length > 0 && granted.length < batch.length) await new Promise((res) => setTimeout(res, Math.min(Math.max(waitMs, 1), 1000)));
      }
    } catch (e) {
      for (const q of this.queue.splice(0)) q.reject(e);
    } finally {
      this.draining = false;
    }
  }

  /**
   * Frees the lease and corrects the token estimate. Written with this process's next update, or
   * within RELEASE_DELAY_MS: until then the slot counts as taken, which errs on the safe side.
   */
  async release(lease: Lease, actualTokens: number): Promise<void> {
    this.pending.push({ lease, actualTokens });
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = null;
      void this.flush().catch(() => undefined);
    }, RELEASE_DELAY_MS);
  }

  /** Writes the pending releases now (at the end of a run). */
  async flush(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.pending.length) await this.update((s) => ({ state: s, value: undefined }));
  }

  /** The latest hold this process knows of (its own, or read from the shared state). */
  private heldUntil = 0;

  /**
   * A reserved request goes out only after every hold set while it waited for its slot: a 429 seen by
   * any slot or process holds them all (a read of the shared state, no lock).
   */
  private async afterHolds(): Promise<void> {
    for (;;) {
      const until = Math.max(this.heldUntil, this.state.read().blockedUntil ?? 0);
      const wait = until - Date.now();
      if (wait <= 0) return;
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  /** The limits in force: the configured ones, lowered to what the server advertised. */
  limitsNow(): Limits {
    return effective(this.limits, this.state.read());
  }

  /** Advertised limits seen by this process, so only a lower one costs a lock round trip. */
  private known: { requestsPerWindow?: number; tokensPerWindow?: number } = {};

  /**
   * The server's x-ratelimit-* headers: limits lower than the configured ones are adopted for every
   * worker (x-ratelimit-limit-* are per minute, as OpenAI's: scaled to the configured window), and a
   * window that is (nearly) spent holds every worker until it resets.
   */
  async holdFromHeaders(h: Headers, nextTokens: number): Promise<void> {
    const num = (name: string) => {
      const v = Number(h.get(name) ?? NaN);
      return Number.isFinite(v) && v > 0 ? (v * this.limits.windowMs) / 60_000 : undefined;
    };
    const advertised = { requestsPerWindow: num('x-ratelimit-limit-requests'), tokensPerWindow: num('x-ratelimit-limit-tokens') };
    const lower = (k: 'requestsPerWindow' | 'tokensPerWindow') =>
      advertised[k] !== undefined && advertised[k]! < Math.min(this.limits[k], this.known[k] ?? Infinity);
    if (lower('requestsPerWindow') || lower('tokensPerWindow')) {
      this.known = {
        requestsPerWindow: Math.min(this.known.requestsPerWindow ?? Infinity, advertised.requestsPerWindow ?? Infinity),
        tokensPerWindow: Math.min(this.known.tokensPerWindow ?? Infinity, advertised.tokensPerWindow ?? Infinity),
      };
      await this.update((s, now) => ({ state: learn(s, this.limits, now, advertised), value: undefined }));
    }
    const holds: number[] = [];
    if (h.get('x-ratelimit-remaining-requests') === '0') holds.push(parseResetDuration(h.get('x-ratelimit-reset-requests')) ?? 0);
    const tok = h.get('x-ratelimit-remaining-tokens');
    if (tok !== null && Number(tok) < nextTokens) holds.push(parseResetDuration(h.get('x-ratelimit-reset-tokens')) ?? 0);
    const ms = Math.max(0, ...holds);
    if (ms > 0) await this.holdUntil(Date.now() + ms);
  }

  /** Hold every worker until `untilMs` (a 429's Retry-After, or headers saying the window is spent). */
  async holdUntil(untilMs: number): Promise<void> {
    this.heldUntil = Math.max(this.heldUntil, untilMs);
    await this.update((s, now) => ({ state: block(s, this.limits, now, untilMs), value: undefined }));
  }
}
