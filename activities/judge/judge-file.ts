/**
 * Pointwise LLM judging of a samples file through the openai package against any OpenAI-compatible
 * server. Retries are ours (the client's are off): 429 waits for Retry-After and holds every worker;
 * 5xx, timeouts and connection errors retry with backoff, then leave the item unlabelled; bad key,
 * unknown model and malformed requests stop the run. A failure is never a score.
 */
import OpenAI from 'openai';
import * as path from 'node:path';
import { writeFileAtomic, WrittenFile } from '../artifacts/atomic-file';
import type { Turn } from '../feedback/scored-samples';
import { readSampleRecords } from '../score/score-file';
import { responseText } from '../score/scorer';
import { parseResetDuration } from './bucket';
import { JudgementCache, judgementKey, CachedJudgement } from './cache';
import type { JudgeConfig } from './config';
import { parsePointwise } from './parse';
import { SharedRateLimiter } from './shared-limiter';
import { loadTemplate, renderPointwise } from './template';

/** The judge endpoint refused the configuration: retrying cannot help. */
export class JudgeConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JudgeConfigError';
  }
}

/** Too many items unlabelled: something systemic is wrong (output was still written for audit). */
export class JudgeSystemicError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JudgeSystemicError';
  }
}

export interface JudgeRunOptions {
  config: JudgeConfig;
  apiKey: string;
  cacheDir: string;
  limiterDir: string;
  onProgress?: (p: { done: number; items: number }) => void | Promise<void>;
}

export interface JudgeFileResult extends WrittenFile {
  items: number;
  labelled: number;
  unlabelled: Record<string, number>;
  paidCalls: number;
  cacheHits: number;
  rateLimited: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  templateSha256: string;
  totalMs: number;
}

const estimate = (text: string) => Math.ceil(text.length / 4);

interface Outcome {
  entry: CachedJudgement | null;
  failure: string | null;
  cached: boolean;
}

export async function judgeFile(inPath: string, outPath: string, o: JudgeRunOptions): Promise<JudgeFileResult> {
  const t0 = performance.now();
  const c = o.config;
  const records = await readSampleRecords(inPath);
  const template = loadTemplate(c.template);
  const cache = new JudgementCache(o.cacheDir);
  const limiter = new SharedRateLimiter(o.limiterDir, {
    requestsPerWindow: c.limits.requestsPerMinute * (c.limits.windowSeconds / 60),
    tokensPerWindow: c.limits.tokensPerMinute * (c.limits.windowSeconds / 60),
    windowMs: c.limits.windowSeconds * 1000,
    maxInFlight: c.limits.maxInFlight,
    burstShare: 0.03,
  }, c.timeoutSeconds * 1000 + 5000);
  const client = new OpenAI({ apiKey: o.apiKey, baseURL: c.baseURL, maxRetries: 0, timeout: c.timeoutSeconds * 1000 });
  let structured = c.structured !== 'never';
  const decoding = { temperature: c.temperature, max_tokens: c.maxTokens, scale: c.scale };
  const stats = { paidCalls: 0, cacheHits: 0, rateLimited: 0, promptTokens: 0, completionTokens: 0 };

  // Identical items in flight at once share one call (they would both miss the cache).
  const inFlight = new Map<string, Promise<Outcome>>();
  async function judgeOne(prompt: Turn[], response: string): Promise<Outcome> {
    const key = judgementKey({ model: c.model, templateSha256: template.sha256, decoding, prompt, response, order: 'pointwise' });
    const hit = cache.get(key);
    if (hit) {
      stats.cacheHits++;
      return { entry: hit, failure: null, cached: true };
    }
    const pending = inFlight.get(key);
    if (pending) {
      const o = await pending;
      if (o.entry) stats.cacheHits++;
      return { ...o, cached: o.entry !== null };
    }
    const call = buy(key, prompt, response);
    inFlight.set(key, call);
    try {
      return await call;
    } finally {
      inFlight.delete(key);
    }
  }

  async function buy(key: string, prompt: Turn[], response: string): Promise<Outcome> {
    const content = renderPointwise(template, prompt, response, c.scale);
    const est = estimate(content) + c.maxTokens;
    let attempt = 0;
    let lastFailure = 'transient_error';
    while (attempt < c.attempts) {
      const lease = await limiter.acquire(est);
      const sentStructured = structured; // other requests may switch the mode while this one is out
      const sentAt = performance.now();
      try {
        const { data, response: http } = await client.chat.completions
          .create({
            model: c.model, temperature: c.temperature, max_tokens: c.maxTokens,
            messages: [{ role: 'user', content }],
            ...(sentStructured ? { response_format: { type: 'json_schema' as const, json_schema: { name: 'judgement', strict: true, schema: { type: 'object', properties: { reasoning: { type: 'string' }, score: { type: 'number' } }, required: ['reasoning', 'score'], additionalProperties: false } } } } : {}),
          })
          .withResponse();
        const usage = data.usage;
        const actual = usage ? usage.total_tokens : est;
        await limiter.release(lease, actual);
        const remaining = http.headers.get('x-ratelimit-remaining-requests');
        if (remaining === '0') {
          const reset = parseResetDuration(http.headers.get('x-ratelimit-reset-requests'));
          if (reset) await limiter.holdUntil(Date.now() + reset);
        }
        stats.paidCalls++;
        stats.promptTokens += usage?.prompt_tokens ?? 0;
        stats.completionTokens += usage?.completion_tokens ?? 0;
        const raw = data.choices[0]?.message?.content ?? '';
        const v = parsePointwise(raw, c.scale, sentStructured);
        const entry: CachedJudgement = {
          key, score: v.ok ? v.score : null, status: v.ok ? 'ok' : v.reason, raw, promptTokens: usage?.prompt_tokens ?? 0,
          completionTokens: usage?.completion_tokens ?? 0, at: new Date().toISOString(),
        };
        cache.put(entry);
        return { entry, failure: null, cached: false };
      } catch (e) {
        await limiter.release(lease, 0);
        // Some fetch implementations (other realms, e.g. test sandboxes) surface the client's abort
        // as a plain connection error: one that arrives after the whole timeout is a timeout.
        const timedOut = performance.now() - sentAt >= c.timeoutSeconds * 1000 * 0.98;
        if (e instanceof OpenAI.APIConnectionTimeoutError || (e instanceof OpenAI.APIConnectionError && timedOut)) {
          lastFailure = 'timeout';
        } else if (e instanceof OpenAI.APIConnectionError) {
          lastFailure = 'connection_error';
        } else if (e instanceof OpenAI.APIError) {
          const status = e.status ?? 0;
          if (status === 429) {
            stats.rateLimited++;
            const ms = Number(e.headers?.get('retry-after-ms')) || Number(e.headers?.get('retry-after')) * 1000 || 1000;
            await limiter.holdUntil(Date.now() + ms);
            continue; // waiting for a rate limit is not a failed attempt
          }
          if (status === 401 || status === 403) throw new JudgeConfigError(`the judge endpoint ${c.baseURL} rejected the API key (HTTP ${status}); check the key in $${c.apiKeyEnv}`);
          if (status === 404) throw new JudgeConfigError(`the judge endpoint ${c.baseURL} does not know model "${c.model}" (HTTP 404); check labeler.model`);
          if (status === 400 && sentStructured && c.structured === 'auto' && /response_format|json_schema|structured/i.test(e.message)) {
            structured = false; // the server lacks structured output: parse text replies instead
            continue;
          }
          if (status >= 400 && status < 500) throw new JudgeConfigError(`the judge endpoint rejected the request (HTTP ${status}): ${e.message}`);
          lastFailure = 'server_error';
        } else {
          throw e;
        }
        attempt++;
        if (attempt < c.attempts) await new Promise((r) => setTimeout(r, Math.min(8000, 250 * 2 ** attempt)));
      }
    }
    return { entry: null, failure: lastFailure, cached: false };
  }

  const outcomes: Outcome[] = new Array(records.length);
  let next = 0;
  let done = 0;
  const workers = Array.from({ length: Math.min(c.limits.maxInFlight, records.length) }, async () => {
    while (next < records.length) {
      const i = next++;
      const r = records[i];
      outcomes[i] = await judgeOne(r.prompt as Turn[], responseText(r.output)!);
      done++;
      await o.onProgress?.({ done, items: records.length });
    }
  });
  try {
    await Promise.all(workers);
  } finally {
    cache.close();
  }

  let labelled = 0;
  const unlabelled: Record<string, number> = {};
  const lines = records.map((r, i) => {
    const oc = outcomes[i];
    const status = oc.entry ? oc.entry.status : oc.failure!;
    const reward = oc.entry && oc.entry.status === 'ok' ? oc.entry.score : null;
    if (reward === null) unlabelled[status] = (unlabelled[status] ?? 0) + 1;
    else labelled++;
    const rec: Record<string, unknown> = {
      ...r, reward, label_status: status,
      judge: { model: c.model, template_sha256: template.sha256, cached: oc.cached, prompt_tokens: oc.entry?.promptTokens ?? 0, completion_tokens: oc.entry?.completionTokens ?? 0 },
    };
    if (reward === null && oc.entry) rec.judge_raw = oc.entry.raw; // kept for audit
    return JSON.stringify(rec) + '\n';
  });
  const written = writeFileAtomic(outPath, lines);
  const costUsd = (stats.promptTokens * c.prices.inputPerMTok + stats.completionTokens * c.prices.outputPerMTok) / 1e6;
  const result: JudgeFileResult = { ...written, items: records.length, labelled, unlabelled, ...stats, costUsd, templateSha256: template.sha256, totalMs: performance.now() - t0 };
  const share = records.length ? (records.length - labelled) / records.length : 0;
  if (share > c.maxUnlabelledShare) {
    throw new JudgeSystemicError(
      `${path.basename(outPath)}: ${(share * 100).toFixed(0)}% of ${records.length} items are unlabelled (${Object.entries(unlabelled).map(([k, v]) => `${k}=${v}`).join(', ')}), ` +
        `over the limit of ${(c.maxUnlabelledShare * 100).toFixed(0)}%: something systemic is wrong with the judge (output kept for audit)`,
    );
  }
  return result;
}
