/**
 * Scores a samples file with a reward model served elsewhere (vLLM, SGLang, OpenRLHF), under the
 * judge's rules: retries are ours (429 waits for Retry-After and holds every worker; 5xx, timeouts,
 * dropped connections and garbage replies retry with backoff, then leave the items unlabelled with
 * the reason); a bad key, an unknown model or a refused request stops the run; every reward is cached
 * (fsync'd) as it arrives, keyed by the protocol, model and rendered text, so a retried shard or a
 * restarted worker never asks twice; requests share the campaign's rate limiter. A failure is never a
 * reward. The output has the local scorer's format, in input order, written atomically.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import OpenAI from 'openai';
import { RewardServerConfigError, RewardServerSystemicError } from '../../../config/errors';
import { readChatTemplate } from '../../artifacts/chat-template-file';
import { writeFileAtomic, WrittenFile } from '../../artifacts/atomic-file';
import type { Turn } from '../../feedback/scored-samples';
import { classifyCallError } from '../../openai/call-errors';
import { limitedFetch, REPLY_BODY_LIMIT } from '../../openai/body-limit';
import { sharedLimiter } from '../../openai/limits';
import { ReplyCache } from '../../openai/reply-cache';
import { conversationRenderer } from '../render';
import { readSampleRecords } from '../score-file';
import { responseText } from '../scorer';
import type { RewardServerConfig } from '../../labelers/reward-server/config';
import { endpointPath, parseRewards, requestBody, SquashedRewards } from './protocols';

interface RewardEntry {
  key: string;
  reward: number | null;
  at: string;
}

export interface RemoteScoreResult extends WrittenFile {
  items: number;
  labelled: number;
  unlabelled: Record<string, number>;
  requests: number;
  cacheHits: number;
  rateLimited: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The texts the server scores: the conversation rendered with the reward model's chat template. */
export function rewardRenderer(c: RewardServerConfig): (prompt: Turn[], response: string) => string {
  let source: string;
  let cfg: Record<string, unknown> = {};
  if (c.chatTemplate) source = fs.readFileSync(c.chatTemplate, 'utf8');
  else if (c.tokenizer) {
    try {
      cfg = JSON.parse(fs.readFileSync(path.join(c.tokenizer, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    } catch {
      cfg = {};
    }
    const t = readChatTemplate(c.tokenizer, cfg);
    if (t.template === null)
      throw new RewardServerConfigError(`labeler.tokenizer: ${t.problem ?? `${c.tokenizer} has no chat template`}; give labeler.chatTemplate`);
    source = t.template;
  } else
    throw new RewardServerConfigError('a reward server scores text: give labeler.tokenizer (the reward model folder) or labeler.chatTemplate (a .jinja file)');
  const render = conversationRenderer(source, cfg);
  return (prompt, response) => render([...prompt, { role: 'assistant', content: response }], false);
}

export class RewardServerCaller {
  readonly stats = { requests: 0, cacheHits: 0, rateLimited: 0 };
  private readonly client: OpenAI;
  private readonly limiter;

  constructor(
    private readonly c: RewardServerConfig,
    apiKey: string,
    private readonly cache: ReplyCache<RewardEntry>,
    limiterDir: string,
  ) {
    this.client = new OpenAI({
      apiKey: apiKey || 'none',
      baseURL: c.baseURL.replace(/\/+$/, ''),
      maxRetries: 0,
      timeout: c.timeoutSeconds * 1000,
      fetch: limitedFetch(REPLY_BODY_LIMIT),
    });
    this.limiter = sharedLimiter(limiterDir, c.limits, c.timeoutSeconds);
  }

  /**
   * Everything that decides a reward: the server, the protocol and the request it sends (the texts
   * aside: add_special_tokens and the like), the model, the reward index, the rendered text. Entries of
   * versions whose key lacked the server and the request are never matched (not used).
   */
  key(text: string): string {
    const c = this.c;
    const request = { ...requestBody(c, []) } as Record<string, unknown>;
    for (const k of ['input', 'text', 'query']) delete request[k];
    return createHash('sha256')
      .update(JSON.stringify(['v2', c.baseURL.replace(/\/+$/, ''), c.protocol, c.model, c.rewardIndex ?? null, request, text]))
      .digest('hex');
  }

  cached(text: string): RewardEntry | undefined {
    return this.cache.get(this.key(text));
  }

  /** Rewards for the texts (null: the server gave none), or the failure that left them unlabelled. */
  async score(texts: string[]): Promise<{ rewards: (number | null)[] } | { failure: string }> {
    const c = this.c;
    const ep = { baseURL: c.baseURL, model: c.model, apiKeyEnv: c.apiKeyEnv ?? '(none)', section: 'labeler' };
    const tokens = texts.reduce((a, t) => a + Math.ceil(t.length / 4), 0);
    let attempt = 0;
    let last = 'server_error';
    while (attempt < c.attempts) {
      const lease = await this.limiter.acquire(tokens);
      const sentAt = performance.now();
      try {
        this.stats.requests++;
        const body = await this.client.post(endpointPath(c.protocol), { body: requestBody(c, texts), signal: AbortSignal.timeout(c.timeoutSeconds * 1000) });
        await this.limiter.release(lease, tokens);
        const rewards = parseRewards(c, body, texts.length);
        this.cache.putAll(texts.map((t, i) => ({ key: this.key(t), reward: rewards[i], at: new Date().toISOString() })));
        return { rewards };
      } catch (e) {
        await this.limiter.release(lease, 0);
        if (e instanceof SquashedRewards) throw new RewardServerConfigError(e.message);
        const timedOut = performance.now() - sentAt >= c.timeoutSeconds * 1000 * 0.98;
        const o = classifyCallError(e, ep, timedOut);
        if (o.kind === 'quota') throw new RewardServerSystemicError(`the reward server ${o.message}`);
        if (o.kind === 'config') throw new RewardServerConfigError(`the reward server ${o.message}`);
        if (o.kind === 'rate_limited') {
          this.stats.rateLimited++;
          await this.limiter.holdUntil(Date.now() + o.waitMs);
          continue; // waiting for a rate limit is not a failed attempt
        }
        last = o.failure;
        attempt++;
        if (attempt < c.attempts) await sleep(Math.min(8000, 250 * 2 ** attempt));
      }
    }
    return { failure: last };
  }

  async close(): Promise<void> {
    await this.limiter.flush();
    this.cache.close();
  }
}

export async function scoreFileRemote(
  c: RewardServerConfig,
  caller: RewardServerCaller,
  inPath: string,
  outPath: string,
  onProgress?: (p: { itemsDone: number; items: number }) => void | Promise<void>,
): Promise<RemoteScoreResult> {
  const records = await readSampleRecords(inPath);
  const render = rewardRenderer(c);
  const texts: (string | null)[] = [];
  const failures = new Map<number, { status: string; error: string }>();
  records.forEach((r, i) => {
    try {
      texts.push(render(r.prompt as Turn[], responseText(r.output)!));
    } catch (e) {
      texts.push(null);
      failures.set(i, { status: 'template_error', error: `${inPath}: record ${i + 1}: the chat template failed on this record: ${(e as Error).message}` });
    }
  });
  const rewards = new Map<string, number | null>();
  for (const t of texts) {
    if (t === null || rewards.has(t)) continue;
    const hit = caller.cached(t);
    if (hit) {
      rewards.set(t, hit.reward);
      caller.stats.cacheHits++;
    }
  }
  const todo = [...new Set(texts.filter((t): t is string => t !== null && !rewards.has(t)))];
  const batches: string[][] = [];
  for (let i = 0; i < todo.length; i += c.batchSize) batches.push(todo.slice(i, i + c.batchSize));
  const failed = new Map<string, string>();
  let itemsDone = texts.length - todo.length;
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      const batch = batches[next++];
      const r = await caller.score(batch);
      if ('rewards' in r) batch.forEach((t, k) => rewards.set(t, r.rewards[k]));
      else for (const t of batch) failed.set(t, r.failure);
      itemsDone += batch.length;
      await onProgress?.({ itemsDone, items: texts.length });
    }
  };
  await Promise.all(Array.from({ length: Math.min(c.limits.maxInFlight, batches.length) }, worker));

  let labelled = 0;
  const unlabelled: Record<string, number> = {};
  const lines = records.map((r, i) => {
    const t = texts[i];
    const f =
      failures.get(i) ??
      (t !== null && failed.has(t)
        ? { status: failed.get(t)!, error: `the reward server gave no reward after labeler.attempts ${c.attempts} (${failed.get(t)})` }
        : null);
    const base = { ...r, labeler: { protocol: c.protocol, model: c.model } };
    if (f) {
      unlabelled[f.status] = (unlabelled[f.status] ?? 0) + 1;
      return JSON.stringify({ ...base, reward: null, label_status: f.status, label_error: f.error }) + '\n';
    }
    const reward = rewards.get(t!) ?? null;
    if (reward === null) unlabelled.non_finite = (unlabelled.non_finite ?? 0) + 1;
    else labelled++;
    return JSON.stringify({ ...base, reward, label_status: reward === null ? 'non_finite' : 'ok' }) + '\n';
  });
  const written = writeFileAtomic(outPath, lines);
  const result = { ...written, items: records.length, labelled, unlabelled, ...caller.stats };
  const missing = records.length - labelled;
  if (records.length && missing / records.length > c.maxUnlabelledShare) {
    throw new RewardServerSystemicError(
      `${path.basename(outPath)}: ${((100 * missing) / records.length).toFixed(0)}% of ${records.length} samples are unlabelled (` +
        `${Object.entries(unlabelled)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')}), over labeler.maxUnlabelledShare ${(c.maxUnlabelledShare * 100).toFixed(0)}%: something systemic is wrong with the reward server ` +
        '(output kept for audit; rewards received are cached, so a resume asks only for the rest)',
    );
  }
  return result;
}
