/**
 * The `openai` sampler: samples from any OpenAI-compatible server with the same machinery as the
 * judge: shared request/token limits across workers, retries that alignloop owns, failures recorded
 * per sample with a reason (an empty string is never an answer), and a reply cache so a retried
 * shard or a restarted worker never asks for a completed sample again.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import OpenAI from 'openai';
import { SamplerConfigError, SamplerSystemicError } from '../../../config/errors';
import { registerSecret } from '../../../config/redact';
import { readChatTemplate } from '../../artifacts/chat-template-file';
import { campaignDir } from '../../artifacts/store';
import type { Turn } from '../../feedback/scored-samples';
import { classifyCallError, errorCode, MalformedReply, malformedCompletion } from '../../openai/call-errors';
import { limitedFetch, REPLY_BODY_LIMIT } from '../../openai/body-limit';
import { sharedLimiter } from '../../openai/limits';
import { ReplyCache } from '../../openai/reply-cache';
import type { SharedRateLimiter } from '../../openai/shared-limiter';
import type { PromptRecord } from '../../prompts';
import { TemplateError, renderTemplate, TemplateVars } from '../../process/argv-template';
import { resolvePolicy } from '../../policy/checkpoint-ref';
import { conversationRenderer } from '../../score/render';
import type { OpenAISamplerConfig } from './config';
import type { SampleJob, SampleOutcome, SampleRecord, Sampler } from '../sampler';

/** One completed sample, as cached. */
export interface CachedSample {
  key: string;
  output: string;
  finishReason: string | null;
  promptTokens: number;
  completionTokens: number;
  model: string;
  at: string;
}

const estimateTokens = (text: string) => Math.ceil(text.length / 4);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** {{policy.name}}, {{policy.sha}}, {{iteration}} in the model name. */
export function renderModelName(template: string, vars: TemplateVars): string {
  try {
    return renderTemplate(template, vars, 'sampler.model');
  } catch (e) {
    if (e instanceof TemplateError) throw new SamplerConfigError(e.message);
    throw e;
  }
}

/** The seed of sample s of a prompt: fixed by (campaign seed, iteration, prompt, s), so a retry asks for the same sample. */
export function sampleSeed(seed: number, iteration: number, promptId: string, s: number): number {
  return createHash('sha256').update(`${seed}:${iteration}:${promptId}:${s}`).digest().readUInt32BE(0) & 0x7fffffff;
}

/** The policy's chat template, for endpoint: completions (rendered here, sent as text). */
function chatRenderer(dir: string): (prompt: Turn[]) => string {
  const file = path.join(dir, 'tokenizer_config.json');
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new SamplerConfigError(`sampler.tokenizer: cannot read ${file} (${(e as Error).message})`);
  }
  const { template: jinja, problem } = readChatTemplate(dir, cfg);
  if (problem) throw new SamplerConfigError(`sampler.tokenizer: ${problem}; keep the one to sample with as the default`);
  if (jinja === null)
    throw new SamplerConfigError(`sampler.tokenizer: ${dir} has no chat template (chat_template in tokenizer_config.json or chat_template.jinja)`);
  const render = conversationRenderer(jinja, cfg);
  return (prompt) => render(prompt, true);
}

interface Request {
  prompt: PromptRecord;
  /** Sample indices this request answers (several with `n`). */
  samples: number[];
  seed: number;
}

class OpenAISamplerRun {
  private readonly client: OpenAI;
  readonly limiter: SharedRateLimiter;
  readonly cache: ReplyCache<CachedSample>;
  private readonly render: ((p: Turn[]) => string) | null;
  /** null: not known yet whether the server honours `n`. */
  private nWorks: boolean | null;
  readonly stats = { requests: 0, cacheHits: 0, rateLimited: 0, promptTokens: 0, completionTokens: 0 };

  constructor(
    private readonly c: OpenAISamplerConfig,
    private readonly model: string,
    /** What names the server in cache keys: its base URL, or for a managed server (new port each start) the policy it serves. */
    private readonly identity: string,
    dirs: { cacheDir: string; limiterDir: string; iteration: number },
  ) {
    const apiKey = process.env[c.apiKeyEnv];
    registerSecret(apiKey);
    this.client = new OpenAI({
      apiKey: apiKey || 'none',
      baseURL: c.baseURL,
      maxRetries: 0,
      timeout: c.timeoutSeconds * 1000,
      fetch: limitedFetch(REPLY_BODY_LIMIT),
    });
    this.limiter = sharedLimiter(dirs.limiterDir, c.limits, c.timeoutSeconds);
    // Keys include the iteration: samples of finished iterations are never asked for again, so not loaded.
    this.cache = new ReplyCache<CachedSample>(dirs.cacheDir, 'samples', { generation: dirs.iteration });
    this.render = c.endpoint === 'completions' ? chatRenderer(c.tokenizer!) : null;
    this.nWorks = c.useN === 'always' ? true : c.useN === 'never' ? false : null;
  }

  /** Everything that determines sample s of a prompt: part of its cache key. */
  key(p: PromptRecord, s: number, iteration: number): string {
    const c = this.c;
    const params = [c.endpoint, c.temperature, c.topP, c.maxTokens, c.stop ?? null, sampleSeed(c.seed, iteration, p.prompt_id, s)];
    return createHash('sha256')
      .update(JSON.stringify([this.identity, this.model, p.prompt, params]))
      .digest('hex');
  }

  private body(r: Request, n: number) {
    const c = this.c;
    const common = {
      model: this.model,
      temperature: c.temperature,
      top_p: c.topP,
      max_tokens: c.maxTokens,
      seed: r.seed,
      ...(c.stop ? { stop: c.stop } : {}),
      ...(n > 1 ? { n } : {}),
    };
    return this.render ? { ...common, prompt: this.render(r.prompt.prompt) } : { ...common, messages: r.prompt.prompt };
  }

  /** Buys the samples of one request (or fails them with a reason); every sample is cached as it arrives. */
  async request(r: Request, keys: string[]): Promise<Map<number, CachedSample | string>> {
    const c = this.c;
    const ep = { baseURL: c.baseURL, model: this.model, apiKeyEnv: c.apiKeyEnv, section: 'sampler' };
    const promptText = r.prompt.prompt.map((t) => t.content).join('\n');
    const est = estimateTokens(promptText) + c.maxTokens * r.samples.length;
    let attempt = 0;
    let failure = 'transient_error';
    while (attempt < c.attempts) {
      const lease = await this.limiter.acquire(est);
      const sentAt = performance.now();
      let released = false;
      try {
        const signal = AbortSignal.timeout(c.timeoutSeconds * 1000);
        const n = r.samples.length;
        this.stats.requests++;
        const { data, response } = this.render
          ? await this.client.completions.create(this.body(r, n) as OpenAI.CompletionCreateParamsNonStreaming, { signal }).withResponse()
          : await this.client.chat.completions.create(this.body(r, n) as OpenAI.ChatCompletionCreateParamsNonStreaming, { signal }).withResponse();
        const bad = malformedCompletion(data);
        if (bad) throw new MalformedReply(`${c.baseURL} answered HTTP 200 but ${bad}`, errorCode((data as { error?: unknown }).error));
        const choices = (data as { choices: { index?: number; message?: { content?: string | null }; text?: string; finish_reason?: string | null }[] })
          .choices;
        if (n > 1 && choices.length < n) {
          // The server ignored `n`: remember, and ask one sample per request from now on.
          this.nWorks = false;
        } else if (n > 1) this.nWorks = true;
        const usage = (data as { usage?: { prompt_tokens?: number; completion_tokens?: number } }).usage;
        const out = new Map<number, CachedSample | string>();
        const received: CachedSample[] = [];
        choices.slice(0, n).forEach((ch, i) => {
          const text = (ch.message ? ch.message.content : ch.text) ?? '';
          const s = r.samples[i];
          if (!text.trim()) return void out.set(s, 'empty_output'); // never an answer
          const entry: CachedSample = {
            key: keys[i],
            output: text,
            finishReason: ch.finish_reason ?? null,
            promptTokens: usage?.prompt_tokens ?? estimateTokens(promptText),
            completionTokens: Math.round((usage?.completion_tokens ?? estimateTokens(text) * choices.length) / choices.length),
            model: (data as { model?: string }).model ?? this.model,
            at: new Date().toISOString(),
          };
          received.push(entry);
          out.set(s, entry);
        });
        this.cache.putAll(received); // before anything else can block: a kill from here on loses nothing
        this.stats.promptTokens += usage?.prompt_tokens ?? 0;
        this.stats.completionTokens += usage?.completion_tokens ?? 0;
        released = true;
        await this.limiter.release(lease, (usage?.prompt_tokens ?? 0) + (usage?.completion_tokens ?? 0) || est);
        await this.limiter.holdFromHeaders(response.headers, est);
        return out;
      } catch (e) {
        if (!released) await this.limiter.release(lease, 0);
        const o = classifyCallError(e, ep, performance.now() - sentAt >= c.timeoutSeconds * 1000 * 0.98);
        if (o.kind === 'quota') throw new SamplerSystemicError(`the sampling endpoint ${o.message}`);
        if (o.kind === 'config') {
          if (o.status === 400 && r.samples.length > 1 && this.nWorks !== true && /\bn\b|best_of|multiple/i.test(o.message)) {
            this.nWorks = false; // the server refuses n > 1: one sample per request
            return new Map();
          }
          throw new SamplerConfigError(`the sampling endpoint ${o.message}`);
        }
        if (o.kind === 'rate_limited') {
          this.stats.rateLimited++;
          await this.limiter.holdUntil(Date.now() + o.waitMs);
          continue;
        }
        failure = o.failure;
        attempt++;
        if (attempt < c.attempts) await sleep(Math.min(8000, 250 * 2 ** attempt));
      }
    }
    return new Map(r.samples.map((s) => [s, failure]));
  }

  /** Whether to ask for several samples in one request. */
  get useN(): boolean {
    return this.nWorks !== false;
  }
}

async function pool<T>(items: T[], size: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(size, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

/** The placeholders a sampler setting may use for the policy of this iteration. */
export function policyVars(job: SampleJob<unknown>): TemplateVars {
  const pol = resolvePolicy(job.policy, 'policy checkpoint', job.iteration === 0 ? 'initial' : `iter-${job.iteration - 1}`);
  return { 'policy.name': pol.name, 'policy.sha': pol.sha256.slice(0, 12), 'policy.path': pol.path, iteration: String(job.iteration) };
}

export interface ServerTarget {
  baseURL: string;
  model: string;
  identity: string;
}

export const openaiSampler: Sampler<OpenAISamplerConfig> = {
  async sample(job): Promise<SampleOutcome> {
    const c = job.settings;
    const model = renderModelName(c.model, policyVars(job));
    return sampleFromServer(job, c, { baseURL: c.baseURL, model, identity: c.baseURL });
  },
};

/** Samples a shard's prompts from an OpenAI-compatible server (the openai and managed kinds). */
export async function sampleFromServer(job: SampleJob<unknown>, c: Omit<OpenAISamplerConfig, 'kind'>, target: ServerTarget): Promise<SampleOutcome> {
  const model = target.model;
  const dir = campaignDir(job.artifactsRoot, job.campaignId);
  const run = new OpenAISamplerRun({ ...c, kind: 'openai', baseURL: target.baseURL }, model, target.identity, {
    cacheDir: path.join(dir, 'sample-cache'),
    limiterDir: path.join(dir, 'sample-limiter'),
    iteration: job.iteration,
  });
  const k = c.samplesPerPrompt;
  const results = new Map<string, (CachedSample | string | undefined)[]>();
  let done = 0;
  try {
    await pool(job.prompts, c.limits.maxInFlight, async (p) => {
      const keys = Array.from({ length: k }, (_, s) => run.key(p, s, job.iteration));
      const got: (CachedSample | string | undefined)[] = keys.map((key) => {
        const hit = run.cache.get(key);
        if (hit) run.stats.cacheHits++;
        return hit;
      });
      for (let round = 0; round < 3 && got.some((g) => g === undefined); round++) {
        const missing = got.flatMap((g, s) => (g === undefined ? [s] : []));
        const asks: Request[] = run.useN
          ? [{ prompt: p, samples: missing, seed: sampleSeed(c.seed, job.iteration, p.prompt_id, missing[0]) }]
          : missing.map((s) => ({ prompt: p, samples: [s], seed: sampleSeed(c.seed, job.iteration, p.prompt_id, s) }));
        for (const a of asks) {
          const out = await run.request(
            a,
            a.samples.map((s) => keys[s]),
          );
          for (const [s, v] of out) got[s] = v;
        }
      }
      results.set(p.prompt_id, got);
      done++;
      if (done % 16 === 0) job.progress({ promptsDone: done, prompts: job.prompts.length });
    });
  } finally {
    run.cache.close();
    await run.limiter.flush().catch(() => undefined);
  }
  const records: SampleRecord[] = [];
  const skipped: Record<string, number> = {};
  const failed: Record<string, number> = {};
  const dropped: Record<string, number> = {};
  const truncatedRecords: SampleRecord[] = [];
  let promptsSampled = 0;
  let failedSamples = 0;
  for (const p of job.prompts) {
    const got = results.get(p.prompt_id) ?? [];
    let kept = 0;
    const reasons: string[] = [];
    got.forEach((g, s) => {
      if (g === undefined || typeof g === 'string') {
        const why = g ?? 'not_answered';
        failed[why] = (failed[why] ?? 0) + 1;
        failedSamples++;
        reasons.push(why);
        return;
      }
      const truncated = g.finishReason === 'length';
      const record: SampleRecord = {
        prompt_id: p.prompt_id,
        sample_id: s,
        prompt: p.prompt,
        output: g.output,
        iteration: job.iteration,
        generator: `openai:${g.model}`,
        model: g.model,
        base_url: target.baseURL,
        finish_reason: g.finishReason,
        truncated,
        prompt_tokens: g.promptTokens,
        completion_tokens: g.completionTokens,
      };
      if (truncated && c.dropTruncated) {
        dropped.truncated = (dropped.truncated ?? 0) + 1;
        return void truncatedRecords.push(record);
      }
      records.push(record);
      kept++;
    });
    if (kept > 0) promptsSampled++;
    else {
      const why = reasons[0] ?? 'all_samples_truncated';
      skipped[why] = (skipped[why] ?? 0) + 1;
    }
  }
  const total = job.prompts.length * k;
  if (total > 0 && failedSamples / total > c.maxFailedShare) {
    const reasons = Object.entries(failed)
      .map(([r, n]) => `${r}=${n}`)
      .join(', ');
    const unreachable = (failed.connection_error ?? 0) + (failed.timeout ?? 0) === failedSamples;
    const hint = unreachable
      ? `nothing answered at ${target.baseURL}: check sampler.baseURL, and that the server runs and is reachable from the sample workers`
      : 'check the server';
    throw new SamplerSystemicError(
      `${failedSamples} of ${total} samples failed (${reasons}) at ${target.baseURL}: more than sampler.maxFailedShare ${c.maxFailedShare}; ${hint}, then resume (samples already received are kept)`,
    );
  }
  return {
    records,
    promptsSampled,
    skipped,
    samplesFailed: failed,
    samplesDropped: dropped,
    truncatedRecords,
    requests: run.stats.requests,
    cacheHits: run.stats.cacheHits,
  };
}
