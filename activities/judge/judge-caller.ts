/**
 * Buys one judgement through the openai package, or reads it back. Retries are ours (the client's
 * are off): 429 waits for Retry-After and holds every worker; 5xx, timeouts and connection errors
 * retry with backoff, then leave the item unlabelled; bad key, unknown model and malformed requests
 * stop the run. The server's x-ratelimit-remaining-* headers hold every worker until the reset when a
 * window is spent. A call goes out only within the budget. A failure is never a score or a label.
 */
import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import type { BudgetLedger } from './budget-ledger';
import { CachedJudgement, JudgementCache } from './cache';
import { costUsd, JudgeConfig } from './config';
import { PairwiseReply, parsePairwise, parsePointwise, PointwiseReply } from './parse';
import type { SharedRateLimiter } from '../openai/shared-limiter';
import { JudgeConfigError, JudgeSystemicError } from '../../config/errors';
import { classifyCallError, errorCode, MalformedReply, malformedCompletion } from '../openai/call-errors';
import { limitedFetch, REPLY_BODY_LIMIT } from '../openai/body-limit';

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
  /** Paid calls whose reply gave no label (no choices, a refusal, unparsable, cut at max_tokens): billed all the same. */
  paidUnlabelled: number;
  /** Paid calls whose reply carried no usage: their tokens (and cost) are upper-bound estimates. */
  estimatedCalls: number;
  /**
   * Attempts sent again after a timeout or a dropped connection: the server may have billed the lost
   * reply, so each may be a call paid twice (at most maxInFlight at a time).
   */
  paidRetries: number;
}

export const emptyCallStats = (): CallStats => ({
  paidCalls: 0,
  cacheHits: 0,
  rateLimited: 0,
  promptTokens: 0,
  completionTokens: 0,
  costUsd: 0,
  sharedWithOtherWorkers: 0,
  paidUnlabelled: 0,
  estimatedCalls: 0,
  paidRetries: 0,
});

/**
 * Tokens of a text, never fewer than a tokenizer counts: byte-level BPE and SentencePiece tokens are
 * at least one byte each, plus the chat template's per-message tokens. For budgets and for replies
 * without usage, where an estimate below the bill would let spending pass the budget.
 */
export const upperBoundTokens = (text: string) => Buffer.byteLength(text, 'utf8') + 8;

/** A reply's tokens: the server's usage, or upper bounds (the completion is also at most max_tokens). */
export function replyTokens(
  usage: { prompt_tokens?: number; completion_tokens?: number } | null | undefined,
  prompt: string,
  completion: string,
  maxTokens: number,
): { prompt: number; completion: number; estimated?: boolean } {
  if (usage) return { prompt: usage.prompt_tokens ?? 0, completion: usage.completion_tokens ?? 0 };
  return { prompt: upperBoundTokens(prompt), completion: Math.min(maxTokens, upperBoundTokens(completion)), estimated: true };
}

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

export class JudgeCaller {
  readonly stats: CallStats = emptyCallStats();
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
    this.client = new OpenAI({ apiKey, baseURL: c.baseURL, maxRetries: 0, timeout: c.timeoutSeconds * 1000, fetch: limitedFetch(REPLY_BODY_LIMIT) });
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
    const promptEstimate = upperBoundTokens(u.content);
    const est = promptEstimate + c.maxTokens;
    let attempt = 0;
    let lastFailure = 'transient_error';
    while (attempt < c.attempts) {
      const reservation = this.budget ? await this.budget.reserve(costUsd(c, promptEstimate, c.maxTokens, false), this.leaseMs) : null;
      if (this.budget && reservation === null) return { entry: null, failure: 'budget_exhausted', cached: false };
      const lease = await this.limiter.acquire(est);
      const sentStructured = this.structured; // other requests may switch the mode while this one is out
      const sentAt = performance.now();
      let spent = 0;
      let released = false;
      try {
        // The timeout bounds the whole call, body included (the client's own stops at the headers).
        // The same key on every attempt: a server that supports idempotency bills a repeated request once.
        const { data, response: http } = await this.client.chat.completions
          .create(requestBody(c, u, sentStructured), { signal: AbortSignal.timeout(c.timeoutSeconds * 1000), idempotencyKey: `alignloop-${u.key}` })
          .withResponse();
        const bad = malformedCompletion(data);
        const usage = (data as { usage?: { prompt_tokens?: number; completion_tokens?: number } } | null)?.usage;
        if (bad) {
          // A 200 that carried usage was billed whatever it holds: count it, then retry.
          if (usage) spent = this.book(replyTokens(usage, u.content, '', c.maxTokens), true);
          throw new MalformedReply(`${c.baseURL} answered HTTP 200 but ${bad}`, errorCode((data as { error?: unknown }).error));
        }
        const reply = data.choices[0];
        const content = reply?.message?.content ?? '';
        // No usage block (some self-hosted servers): upper bounds of the tokens, marked as estimates; never $0.
        const tokens = replyTokens(usage, u.content, content, c.maxTokens);
        // The paid reply reaches the cache before anything else can block (limiter lock, headers):
        // a process killed from here on has lost nothing.
        const entry = entryFromReply(c, u, content, sentStructured, tokens, false, reply?.finish_reason);
        this.cache.put(entry);
        spent = this.book(tokens, entry.status !== 'ok');
        released = true;
        await this.limiter.release(lease, tokens.prompt + tokens.completion);
        await this.limiter.holdFromHeaders(http.headers, est);
        return { entry, failure: null, cached: false };
      } catch (e) {
        if (!released) await this.limiter.release(lease, 0);
        const timedOut = performance.now() - sentAt >= c.timeoutSeconds * 1000 * 0.98;
        const o = classifyCallError(e, { baseURL: c.baseURL, model: c.model, apiKeyEnv: c.apiKeyEnv, section: 'labeler' }, timedOut);
        if (o.kind === 'quota') throw new JudgeSystemicError(`the judge endpoint ${o.message}`);
        if (o.kind === 'rate_limited') {
          this.stats.rateLimited++;
          await this.limiter.holdUntil(Date.now() + o.waitMs);
          continue; // waiting for a rate limit is not a failed attempt
        }
        if (o.kind === 'config') {
          if (o.status === 400 && sentStructured && c.structured === 'auto' && /response_format|json_schema|structured/i.test(o.message)) {
            this.structured = false; // the server lacks structured output: parse text replies instead
            continue;
          }
          throw new JudgeConfigError(`the judge endpoint ${o.message}`);
        }
        lastFailure = o.failure;
        attempt++;
        // A reply lost after the request went out may have been billed: the next attempt may pay again.
        if (attempt < c.attempts && (o.failure === 'timeout' || o.failure === 'connection_error')) this.stats.paidRetries++;
        if (attempt < c.attempts) await sleep(Math.min(8000, 250 * 2 ** attempt));
      } finally {
        if (reservation) await this.budget!.settle(reservation, spent);
      }
    }
    return { entry: null, failure: lastFailure, cached: false };
  }

  /** A billed call: its tokens and cost; returns the cost (what the budget settles). */
  private book(tokens: { prompt: number; completion: number; estimated?: boolean }, unlabelled: boolean): number {
    const spent = costUsd(this.c, tokens.prompt, tokens.completion, false);
    this.stats.paidCalls++;
    if (unlabelled) this.stats.paidUnlabelled++;
    if (tokens.estimated) this.stats.estimatedCalls++;
    this.stats.promptTokens += tokens.prompt;
    this.stats.completionTokens += tokens.completion;
    this.stats.costUsd += spent;
    return spent;
  }
}
