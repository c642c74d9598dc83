/**
 * Token buckets for request and token limits, sized so no sliding window of length W can see more
 * than the limit L even when requests reach the server up to J late (J = arrivalSlackMs: event-loop
 * and network delays that bunch requests sent apart): capacity C = max(f*L, 1 request), refill
 * (L - C) per W + J, so any W + J of sends, and so any W of arrivals, holds at most L.
 * Sustained throughput is (L - C) * W / (W + J). Plus a "blocked until" time (a 429's Retry-After, or the server's headers
 * saying the window is spent) that holds every worker, and leases for the requests in flight. Pure.
 */
export interface Limits {
  requestsPerWindow: number;
  tokensPerWindow: number;
  windowMs: number;
  maxInFlight: number;
  /** Share of the limit allowed as a burst; the rest is the sustained rate. */
  burstShare: number;
  /** How late a request may reach the server relative to its slot without breaking the limit (default 0). */
  arrivalSlackMs?: number;
}

export interface BucketState {
  at: number;
  requests: number;
  tokens: number;
  blockedUntil: number;
  inFlight: InFlight[];
  /** Limits the server advertised (x-ratelimit-limit-*) where lower than the configured ones. */
  learnt?: { requestsPerWindow?: number; tokensPerWindow?: number };
}

/** The configured limits, lowered to what the server advertised. */
export function effective(l: Limits, s: Pick<BucketState, 'learnt'>): Limits {
  if (!s.learnt) return l;
  return {
    ...l,
    requestsPerWindow: Math.min(l.requestsPerWindow, s.learnt.requestsPerWindow ?? Infinity),
    tokensPerWindow: Math.min(l.tokensPerWindow, s.learnt.tokensPerWindow ?? Infinity),
  };
}

/** Adopt the server's advertised limits where they are lower than what is in force (the bucket shrinks at once). */
export function learn(s0: BucketState, l: Limits, now: number, advertised: { requestsPerWindow?: number; tokensPerWindow?: number }): BucketState {
  const s = refill(s0, l, now);
  const cur = effective(l, s);
  const learnt = { ...s.learnt };
  if (advertised.requestsPerWindow !== undefined && advertised.requestsPerWindow > 0 && advertised.requestsPerWindow < cur.requestsPerWindow)
    learnt.requestsPerWindow = advertised.requestsPerWindow;
  if (advertised.tokensPerWindow !== undefined && advertised.tokensPerWindow > 0 && advertised.tokensPerWindow < cur.tokensPerWindow)
    learnt.tokensPerWindow = advertised.tokensPerWindow;
  const next = { ...s, learnt };
  const z = sizes(effective(l, next));
  return { ...next, requests: Math.min(next.requests, z.capReq), tokens: Math.min(next.tokens, z.capTok) };
}

/** A request in flight: its lease ends at `until`, or when its process (host, pid) is known to be gone. */
export interface InFlight {
  id: string;
  until: number;
  host?: string;
  pid?: number;
}

/** Bucket capacities and refill rates (per ms) for requests and tokens. */
export function sizes(l: Limits) {
  const capReq = Math.min(l.requestsPerWindow, Math.max(1, l.requestsPerWindow * l.burstShare));
  const capTok = Math.min(l.tokensPerWindow, Math.max(1, l.tokensPerWindow * l.burstShare));
  return {
    capReq,
    capTok,
    rateReq: Math.max(l.requestsPerWindow - capReq, l.requestsPerWindow * 0.01) / (l.windowMs + (l.arrivalSlackMs ?? 0)),
    rateTok: Math.max(l.tokensPerWindow - capTok, l.tokensPerWindow * 0.01) / (l.windowMs + (l.arrivalSlackMs ?? 0)),
  };
}

export function initialState(l: Limits, now: number): BucketState {
  const z = sizes(l);
  return { at: now, requests: z.capReq, tokens: z.capTok, blockedUntil: 0, inFlight: [] };
}

export function refill(s: BucketState, l: Limits, now: number): BucketState {
  const dt = Math.max(0, now - s.at);
  const z = sizes(effective(l, s));
  return {
    at: now,
    requests: Math.min(z.capReq, s.requests + dt * z.rateReq),
    tokens: Math.min(z.capTok, s.tokens + dt * z.rateTok),
    blockedUntil: s.blockedUntil,
    inFlight: s.inFlight.filter((f) => f.until > now),
    ...(s.learnt ? { learnt: s.learnt } : {}),
  };
}

/**
 * ok: the request holds the next slot and may be sent after delayMs (a reservation: the bucket goes
 * into debt, so waiters queue in order instead of polling). Not ok: blocked, or too many in flight.
 */
export type TakeResult = { ok: true; state: BucketState; delayMs: number } | { ok: false; state: BucketState; waitMs: number };

export const MAX_RESERVATION_MS = 10_000;

export function tryTake(s0: BucketState, l: Limits, now: number, tokens: number, lease: InFlight): TakeResult {
  const s = refill(s0, l, now);
  if (now < s.blockedUntil) return { ok: false, state: s, waitMs: s.blockedUntil - now };
  if (s.inFlight.length >= l.maxInFlight) return { ok: false, state: s, waitMs: 20 };
  const z = sizes(effective(l, s));
  // A request bigger than the token burst waits until the bucket is full, then goes into debt.
  const need = Math.min(tokens, z.capTok);
  const waitReq = s.requests >= 1 ? 0 : (1 - s.requests) / z.rateReq;
  const waitTok = s.tokens >= need ? 0 : (need - s.tokens) / z.rateTok;
  const wait = Math.ceil(Math.max(waitReq, waitTok));
  if (wait > MAX_RESERVATION_MS) return { ok: false, state: s, waitMs: MAX_RESERVATION_MS };
  const taken = { ...s, requests: s.requests - 1, tokens: s.tokens - tokens, inFlight: [...s.inFlight, { ...lease, until: lease.until + wait }] };
  return { ok: true, state: taken, delayMs: wait };
}

/** After the call: drop the lease and correct the token estimate with what the server counted. */
export function settle(s0: BucketState, l: Limits, now: number, leaseId: string, estimatedTokens: number, actualTokens: number): BucketState {
  const s = refill(s0, l, now);
  return { ...s, tokens: s.tokens + estimatedTokens - actualTokens, inFlight: s.inFlight.filter((f) => f.id !== leaseId) };
}

export function block(s0: BucketState, l: Limits, now: number, untilMs: number): BucketState {
  const s = refill(s0, l, now);
  return { ...s, blockedUntil: Math.max(s.blockedUntil, untilMs) };
}

/** "6m0s", "1.5s", "200ms" (x-ratelimit-reset-* headers) -> milliseconds. */
export function parseResetDuration(v: string | null | undefined): number | null {
  if (!v) return null;
  let ms = 0;
  let matched = false;
  for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) {
    matched = true;
    const n = Number(m[1]);
    ms += m[2] === 'h' ? n * 3600000 : m[2] === 'm' ? n * 60000 : m[2] === 's' ? n * 1000 : n;
  }
  return matched ? ms : Number.isFinite(Number(v)) ? Number(v) * 1000 : null;
}
