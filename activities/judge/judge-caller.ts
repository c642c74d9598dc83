/**
 * Buys one judgement through the openai package, or reads it back. Retries are ours (the client's
 * are off): 429 waits for Retry-After and holds every worker; 5xx, timeouts and connection errors
 * retry with backoff, then leave the item unlabelled; bad key, unknown model and malformed requests
 * stop the run. The server's x-ratelimit-remaining-* headers hold every worker until the reset when a
 * window is spent. A call goes out only within the budget. A failure is never a score or a label.
 */
import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { parseResetDuration } from './bucket';
import type { BudgetLedger } from './budget-ledger';
import { CachedJudgement, JudgementCache } from './cache';
import { costUsd, JudgeConfig } from './config';
import { PairwiseReply, parsePairwise, parsePointwise, PointwiseReply } from './parse';
import type { SharedRateLimiter } from './shared-limiter';
import { JudgeConfigError, JudgeSystemicError } from '../../config/errors';

function quotaError(c: JudgeConfig, code: string): JudgeSystemicError {
  return new JudgeSystemicError(
    `the judge endpoint ${c.baseURL} refused for lack of quota (${code}): the account is out of credit or over its spending limit; ` +
      'add credit or raise the limit with the provider, then resume',
  );
}

/** One request to the judge: a rendered prompt and the cache key of its answer. */
export interface JudgeUnit {
  key: string;
  kind: 'pointwise' | 'pairwise';
  content: string;
}

export interface Outcome {
  entry: CachedJudgement | null;
  /** Why there is no entry: timeout, server_error, connection_error, budget_exhausted, batch_*. */
  failure: string | null;
  cached: boolean;
}

export interface CallStats {
  paidCalls: number;
  cacheHits: number;
  rateLimited: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  /** Judgements another worker was buying at the same moment, waited for instead of bought again. */
  sharedWithOtherWorkers: number;
}

export const estimateTokens = (text: string) => Math.ceil(text.length / 4);

export function requestBody(c: JudgeConfig, u: JudgeUnit, structured: boolean) {
  return {
    model: c.model,
    temperature: c.temperature,
    max_tokens: c.maxTokens,
    messages: [{ role: 'user' as const, content: u.content }],
    ...(structured
      ? { response_format: zodResponseFormat(u.kind === 'pairwise' ? PairwiseReply : PointwiseReply, u.kind === 'pairwise' ? 'comparison' : 'judgement') }
      : {}),
  };
}

/** A reply's text -> the cache entry (a parse failure is an entry too: the call was paid). */
export function entryFromReply(
  c: JudgeConfig,
  u: JudgeUnit,
  raw: string,
  structured: boolean,
  tokens: { prompt: number; completion: number; estimated?: boolean },
  batch: boolean,
  finishReason?: string | null,
): CachedJudgement {
  const base = {
    key: u.key,
    raw,
    promptTokens: tokens.prompt,
    completionTokens: tokens.completion,
    ...(tokens.estimated ? { tokensEstimated: true } : {}),
    at: new Date().toISOString(),
    ...(batch ? { batch: true } : {}),
  };
  // A reply cut at max_tokens may have lost the part that changes the label: never parse one.
  if (finishReason === 'length') return { ...base, status: 'truncated', ...(u.kind === 'pairwise' ? { winner: null } : { score: null }) };
  if (u.kind === 'pairwise') {
    const v = parsePairwise(raw, c.scale, structured);
    return v.ok ? { ...base, status: 'ok', winner: v.winner, scoreA: v.scoreA, scoreB: v.scoreB } : { ...base, status: v.reason, winner: null };
  }
  const v = parsePointwise(raw, c.scale, structured);
  return { ...base, status: v.ok ? 'ok' : v.reason, score: v.ok ? v.score : null };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Retry-After as seconds or an HTTP-date, or retry-after-ms; null when the server gave none. */
export function retryAfterMs(h: Headers | undefined, now = Date.now()): number | null {
  const ms = Number(h?.get('retry-after-ms'));
  if (h?.get('retry-after-ms') && Number.isFinite(ms) && ms >= 0) return ms;
  const ra = h?.get('retry-after')?.trim();
  if (!ra) return null;
  if (/^\d+(\.\d+)?$/.test(ra)) return Number(ra) * 1000;
  const at = Date.parse(ra);
  return Number.isFinite(at) ? Math.max(0, at - now) : null;
}

/** 429s that are not rate limits: the account cannot pay. Retrying cannot help. */
const QUOTA_CODES = new Set(['insufficient_quota', 'billing_hard_limit_reached', 'billing_not_active', 'quota_exceeded', 'access_terminated']);

function errorCode(e: unknown): string | null {
  const x = e as { code?: unknown; type?: unknown; error?: { code?: unknown; type?: unknown } };
  for (const v of [x.code, x.error?.code, x.type, x.error?.type]) if (typeof v === 'string') return v;
  return null;
}

/** undici surfaces a connection dropped mid-body as "TypeError: terminated" (or a socket error in its cause). */
function droppedConnection(e: unknown): boolean {
  const err = e as { name?: string; message?: string; cause?: { code?: string; name?: string } };
  return (
    (err?.name === 'TypeError' && /terminated|fetch failed|other side closed/i.test(err.message ?? '')) ||
    /^UND_ERR|ECONNRESET|EPIPE/.test(err?.cause?.code ?? '') ||
    err?.cause?.name === 'SocketError'
  );
}

/** A 200 whose body is not a chat completion: an {"error": …} from a gateway, no choices, no message. */
function malformed(data: unknown): string | null {
  const d = data as { error?: { message?: string; code?: string }; choices?: { message?: { content?: unknown } }[] } | null;
  if (!d || typeof d !== 'object') return 'the body is not a JSON object';
  if (d.error) return `the body is an error: ${d.error.code ?? ''} ${d.error.message ?? ''}`.trim();
  if (!Array.isArray(d.choices) || d.choices.length === 0) return 'the body has no choices';
  const content = d.choices[0]?.message?.content;
  if (content !== null && content !== undefined && typeof content !== 'string') return 'the message content is not text';
  return null;
}

class MalformedReply extends Error {
  constructor(
    message: string,
    readonly code: string | null,
  ) {
    super(message);
    this.name = 'MalformedReply';
  }
}

export class JudgeCaller {
  readonly stats: CallStats = { paidCalls: 0, cacheHits: 0, rateLimited: 0, promptTokens: 0, completionTokens: 0, costUsd: 0, sharedWithOtherWorkers: 0 };
  private structured: boolean;
  private readonly client: OpenAI;
  private readonly inFlight = new Map<string, Promise<Outcome>>();
  private readonly leaseMs: number;

  constructor(
    private readonly c: JudgeConfig,
    apiKey: string,
    private readonly cache: JudgementCache,
    private readonly limiter: SharedRateLimiter,
    private readonly budget: BudgetLedger | null,
  ) {
    this.structured = c.structured !== 'never';
    this.client = new OpenAI({ apiKey, baseURL: c.baseURL, maxRetries: 0, timeout: c.timeoutSeconds * 1000 });
    this.leaseMs = c.timeoutSeconds * 1000 + 10_000;
  }

  /** The judgement from the cache (counted as a hit), or null. */
  lookup(u: JudgeUnit, boughtByAnotherWorker = false): Outcome | null {
    const hit = this.cache.get(u.key);
    if (!hit) return null;
    this.stats.cacheHits++;
    if (boughtByAnotherWorker) this.stats.sharedWithOtherWorkers++;
    return { entry: hit, failure: null, cached: true };
  }

  async judge(u: JudgeUnit): Promise<Outcome> {
    const hit = this.lookup(u);
    if (hit) return hit;
    // Identical units in flight at once in this process share one call.
    const pending = this.inFlight.get(u.key);
    if (pending) {
      const o = await pending;
      if (o.entry) this.stats.cacheHits++;
      return { ...o, cached: o.entry !== null };
    }
    const call = this.buyOnce(u);
    this.inFlight.set(u.key, call);
    try {
      return await call;
    } finally {
      this.inFlight.delete(u.key);
    }
  }

  /** Across processes: whoever claims the key buys it; the others wait for it to reach the cache. */
  private async buyOnce(u: JudgeUnit): Promise<Outcome> {
    for (;;) {
      if (this.cache.claim(u.key, this.leaseMs)) {
        // Renewed while we wait for the limiter or retry, so peers on other hosts never take it over from a live worker.
        const renew = setInterval(() => this.cache.renew(u.key), Math.max(1000, this.leaseMs / 3));
        try {
          this.cache.refresh(); // bought while we were claiming?
          return this.lookup(u) ?? (await this.buy(u));
        } finally {
          clearInterval(renew);
          this.cache.unclaim(u.key);
        }
      }
      while (this.cache.heldElsewhere(u.key, this.leaseMs)) {
        await sleep(200);
        this.cache.refresh();
        const hit = this.lookup(u, true);
        if (hit) return hit;
      }
      // The other worker gave up (its call failed) or died: try ourselves.
    }
  }

  private async buy(u: JudgeUnit): Promise<Outcome> {
    const c = this.c;
    const promptEstimate = estimateTokens(u.content);
    const est = promptEstimate + c.maxTokens;
    let attempt = 0;
    let lastFailure = 'transient_error';
    while (attempt < c.attempts) {
      const reservation = this.budget ? await this.budget.reserve(costUsd(c, promptEstimate * 1.5, c.maxTokens, false), this.leaseMs) : null;
      if (this.budget && reservation === null) return { entry: null, failure: 'budget_exhausted', cached: false };
      const lease = await this.limiter.acquire(est);
      const sentStructured = this.structured; // other requests may switch the mode while this one is out
      const sentAt = performance.now();
      let spent = 0;
      let released = false;
      try {
        // The timeout bounds the whole call, body included (the client's own stops at the headers).
        const { data, response: http } = await this.client.chat.completions
          .create(requestBody(c, u, sentStructured), { signal: AbortSignal.timeout(c.timeoutSeconds * 1000) })
          .withResponse();
        const bad = malformed(data);
        if (bad) throw new MalformedReply(`the judge endpoint answered HTTP 200 but ${bad}`, errorCode((data as { error?: unknown }).error ?? {}));
        const reply = data.choices[0];
        const content = reply?.message?.content ?? '';
        // No usage block (some self-hosted servers): count the tokens ourselves, and say so; never $0.
        const usage = data.usage;
        const tokens = usage
          ? { prompt: usage.prompt_tokens ?? 0, completion: usage.completion_tokens ?? 0 }
          : { prompt: promptEstimate, completion: estimateTokens(content), estimated: true };
        spent = costUsd(c, tokens.prompt, tokens.completion, false);
        // The paid reply reaches the cache before anything else can block (limiter lock, headers):
        // a process killed from here on has lost nothing.
        const entry = entryFromReply(c, u, content, sentStructured, tokens, false, reply?.finish_reason);
        this.cache.put(entry);
        this.stats.paidCalls++;
        this.stats.promptTokens += tokens.prompt;
        this.stats.completionTokens += tokens.completion;
        this.stats.costUsd += spent;
        released = true;
        await this.limiter.release(lease, tokens.prompt + tokens.completion);
        await this.adaptToHeaders(http.headers, est);
        return { entry, failure: null, cached: false };
      } catch (e) {
        if (!released) await this.limiter.release(lease, 0);
        const timedOut = performance.now() - sentAt >= c.timeoutSeconds * 1000 * 0.98;
        if (e instanceof MalformedReply) {
          if (e.code && QUOTA_CODES.has(e.code)) throw quotaError(c, e.code);
          lastFailure = 'malformed_reply';
        } else if (
          e instanceof OpenAI.APIConnectionTimeoutError ||
          e instanceof OpenAI.APIUserAbortError ||
          (e as Error)?.name === 'TimeoutError' ||
          (e as Error)?.name === 'AbortError' || // our timeout fired while the body was being read
          ((e instanceof OpenAI.APIConnectionError || droppedConnection(e)) && timedOut)
        ) {
          lastFailure = 'timeout';
        } else if (e instanceof OpenAI.APIConnectionError || droppedConnection(e)) {
          lastFailure = 'connection_error';
        } else if (e instanceof OpenAI.APIError) {
          const status = e.status ?? 0;
          const code = errorCode(e);
          if (status === 429 && code && QUOTA_CODES.has(code)) throw quotaError(c, code);
          if (status === 429) {
            this.stats.rateLimited++;
            await this.limiter.holdUntil(Date.now() + (retryAfterMs(e.headers) ?? 1000));
            continue; // waiting for a rate limit is not a failed attempt
          }
          if (status === 401 || status === 403)
            throw new JudgeConfigError(`the judge endpoint ${c.baseURL} rejected the API key (HTTP ${status}); check the key in $${c.apiKeyEnv}`);
          if (status === 404) throw new JudgeConfigError(`the judge endpoint ${c.baseURL} does not know model "${c.model}" (HTTP 404); check labeler.model`);
          if (status === 400 && sentStructured && c.structured === 'auto' && /response_format|json_schema|structured/i.test(e.message)) {
            this.structured = false; // the server lacks structured output: parse text replies instead
            continue;
          }
          if (status >= 400 && status < 500) throw new JudgeConfigError(`the judge endpoint rejected the request (HTTP ${status}): ${e.message}`);
          lastFailure = 'server_error';
        } else if (e instanceof SyntaxError) {
          lastFailure = 'malformed_reply'; // a 200 whose body is not JSON
        } else {
          throw e;
        }
        attempt++;
        if (attempt < c.attempts) await sleep(Math.min(8000, 250 * 2 ** attempt));
      } finally {
        if (reservation) await this.budget!.settle(reservation, spent);
      }
    }
    return { entry: null, failure: lastFailure, cached: false };
  }

  /** The server says a window is (nearly) spent: hold every worker until it resets. */
  private async adaptToHeaders(h: Headers, nextTokens: number): Promise<void> {
    const holds: number[] = [];
    if (h.get('x-ratelimit-remaining-requests') === '0') holds.push(parseResetDuration(h.get('x-ratelimit-reset-requests')) ?? 0);
    const tok = h.get('x-ratelimit-remaining-tokens');
    if (tok !== null && Number(tok) < nextTokens) holds.push(parseResetDuration(h.get('x-ratelimit-reset-tokens')) ?? 0);
    const ms = Math.max(0, ...holds);
    if (ms > 0) await this.limiter.holdUntil(Date.now() + ms);
  }
}
