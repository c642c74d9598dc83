/**
 * Batch API judging (half price, results within 24 h): upload the judgements the cache lacks, create
 * a batch, and later download its results into the same cache. The waiting happens in the workflow
 * (activity retries between short polls), never inside a long-running activity. Submission is
 * idempotent: the batch carries a metadata key, and a retried submit finds it instead of buying twice.
 */
import OpenAI, { toFile } from 'openai';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeJsonAtomic } from '../artifacts/atomic-file';
import { BudgetLedger } from './budget-ledger';
import { JudgementCache } from './cache';
import { costUsd, JudgeConfig } from './config';
import { entryFromReply, replyTokens, requestBody, upperBoundTokens } from './judge-caller';
import { parseJsonLines } from '../artifacts/json-lines';
import { JudgeFileResult, JudgePlan, judgePlanned, JudgeRunOptions, planJudging } from './judge-file';
import { JudgeConfigError, JudgeBudgetExhausted, JudgeSystemicError } from '../../config/errors';
import { BATCH_FILE_LIMIT, BodyTooLarge, limitedFetch } from '../openai/body-limit';

export interface BatchRecord {
  batchId: string | null;
  requests: number;
  estimatedUsd: number;
  /** The budget ledger's hold on the batch's worst case, settled with the actual cost at collection. */
  reservation: string | null;
  key: string;
  submittedAt: string;
}

const BATCH_RESERVATION_MS = 26 * 3600_000;

export const TERMINAL = ['completed', 'failed', 'expired', 'cancelled'];

export function batchClient(c: JudgeConfig, apiKey: string): OpenAI {
  return new OpenAI({ apiKey, baseURL: c.baseURL, maxRetries: 2, timeout: c.timeoutSeconds * 1000, fetch: limitedFetch(BATCH_FILE_LIMIT) });
}

/** 401/403/404 from the batch endpoints are configuration errors, as for online calls. */
function classifyApiError(e: unknown, c: JudgeConfig): never {
  if (e instanceof OpenAI.APIError && (e.status === 401 || e.status === 403))
    throw new JudgeConfigError(`the judge endpoint ${c.baseURL} rejected the API key (HTTP ${e.status}); check the key in $${c.apiKeyEnv}`);
  if (e instanceof OpenAI.APIError && e.status === 404)
    throw new JudgeConfigError(`the judge endpoint ${c.baseURL} has no Batch API (HTTP 404 on ${e.message}); turn labeler.batch.enabled off`);
  throw e;
}

async function findByKey(client: OpenAI, key: string): Promise<string | null> {
  let seen = 0;
  for await (const b of client.batches.list({ limit: 100 })) {
    if ((b.metadata as Record<string, string> | null)?.alignloop_key === key && !['failed', 'cancelled'].includes(b.status)) return b.id;
    if (++seen >= 1000) break; // recent batches come first
  }
  return null;
}

export async function submitBatch(
  plan: JudgePlan,
  o: { client: OpenAI; cacheDir: string; recordFile: string; key: string; ledger: BudgetLedger | null },
): Promise<BatchRecord> {
  if (fs.existsSync(o.recordFile)) return JSON.parse(fs.readFileSync(o.recordFile, 'utf8')) as BatchRecord;
  const c = plan.config;
  const cache = new JudgementCache(o.cacheDir);
  const seen = new Set<string>();
  const lines: string[] = [];
  let estimatedUsd = 0;
  const structured = c.structured !== 'never';
  for (const u of plan.units) {
    if (cache.get(u.key) || seen.has(u.key)) continue;
    seen.add(u.key);
    estimatedUsd += costUsd(c, upperBoundTokens(u.content), c.maxTokens, true);
    lines.push(JSON.stringify({ custom_id: u.key, method: 'POST', url: '/v1/chat/completions', body: requestBody(c, u, structured) }) + '\n');
  }
  const record: BatchRecord = { batchId: null, requests: lines.length, estimatedUsd, reservation: null, key: o.key, submittedAt: new Date().toISOString() };
  if (lines.length > 0) {
    // Held until collection, so shards submitting side by side cannot together pass the budget.
    record.reservation = o.ledger ? await o.ledger.reserve(estimatedUsd, BATCH_RESERVATION_MS) : null;
    if (o.ledger && record.reservation === null) {
      throw new JudgeBudgetExhausted(
        `the judge budget does not cover this batch: ${lines.length} judgements, up to $${estimatedUsd.toFixed(4)}, with $${((o.ledger.b.limitUsd ?? 0) - o.ledger.spent()).toFixed(4)} left ` +
          'before what other shards hold; raise it with `alignloop resume ID --budget USD`',
        o.ledger.spent(),
      );
    }
    try {
      record.batchId = await findByKey(o.client, o.key);
      if (!record.batchId) {
        const file = await o.client.files.create({ file: await toFile(Buffer.from(lines.join('')), 'alignloop-judge-batch.jsonl'), purpose: 'batch' });
        const batch = await o.client.batches.create({
          input_file_id: file.id,
          endpoint: '/v1/chat/completions',
          completion_window: c.batch.completionWindow,
          metadata: { alignloop_key: o.key },
        });
        record.batchId = batch.id;
      }
    } catch (e) {
      if (record.reservation) await o.ledger!.settle(record.reservation, 0);
      classifyApiError(e, c);
    }
  }
  writeJsonAtomic(o.recordFile, record);
  return record;
}

export async function batchStatus(
  client: OpenAI,
  c: JudgeConfig,
  batchId: string,
): Promise<{ status: string; terminal: boolean; completed: number; failed: number; total: number }> {
  try {
    const b = await client.batches.retrieve(batchId);
    const rc = b.request_counts ?? { completed: 0, failed: 0, total: 0 };
    return { status: b.status, terminal: TERMINAL.includes(b.status), completed: rc.completed, failed: rc.failed, total: rc.total };
  } catch (e) {
    classifyApiError(e, c);
  }
}

/** HTTP status of a failed batch item -> the unlabelled reason (as for online calls). */
function failureOf(status: number): string {
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'server_error';
  return 'batch_request_error';
}

/**
 * Downloads a finished batch's results into the cache. Returns why each unanswered unit has no
 * judgement, and the spend newly booked (results already cached by an earlier attempt are not booked twice).
 */
interface BatchResultLine {
  custom_id?: string;
  response?: {
    status_code?: number;
    body?: {
      choices?: { message?: { content?: string | null }; finish_reason?: string | null }[];
      usage?: { prompt_tokens?: number; completion_tokens?: number };
    };
  } | null;
  error?: { code?: string } | null;
}

export async function collectBatch(
  plan: JudgePlan,
  o: { client: OpenAI; cache: JudgementCache; batchId: string; ledger: BudgetLedger | null; reservation?: string | null },
) {
  const c = plan.config;
  const b = await o.client.batches.retrieve(o.batchId).catch((e) => classifyApiError(e, c));
  const units = new Map(plan.units.map((u) => [u.key, u]));
  const failures = new Map<string, string>();
  const cache = o.cache;
  const stats = { bought: 0, cached: 0, promptTokens: 0, completionTokens: 0, costUsd: 0, paidUnlabelled: 0, estimatedCalls: 0 };
  const structured = c.structured !== 'never';
  for (const fileId of [b.output_file_id, b.error_file_id]) {
    if (!fileId) continue;
    const text = await (await o.client.files.content(fileId)).text().catch((e: unknown) => {
      if (e instanceof BodyTooLarge)
        throw new JudgeSystemicError(
          `the judge endpoint's result file ${fileId} of batch ${o.batchId}: ${e.message}; judge smaller shards (sharding.promptsPerShard)`,
        );
      throw e;
    });
    // A torn line is skipped: its unit stays unanswered and is reported below.
    for (const item of parseJsonLines<BatchResultLine>(text, 'skip')) {
      const u = item.custom_id ? units.get(item.custom_id) : undefined;
      if (!u || cache.get(u.key)) continue;
      const status = item.response?.status_code ?? 0;
      const choice = item.response?.body?.choices?.[0];
      const usage = item.response?.body?.usage;
      const book = (tokens: { prompt: number; completion: number; estimated?: boolean }, unlabelled: boolean) => {
        stats.bought++;
        if (unlabelled) stats.paidUnlabelled++;
        if (tokens.estimated) stats.estimatedCalls++;
        stats.promptTokens += tokens.prompt;
        stats.completionTokens += tokens.completion;
        stats.costUsd += costUsd(c, tokens.prompt, tokens.completion, true);
      };
      if (status === 200 && choice && (typeof choice.message?.content === 'string' || choice.message?.content == null)) {
        const content = choice.message?.content ?? '';
        const tokens = replyTokens(usage, u.content, content, c.maxTokens);
        const entry = entryFromReply(c, u, content, structured, tokens, true, choice.finish_reason);
        cache.put(entry);
        stats.cached++;
        book(tokens, entry.status !== 'ok');
      } else if (status === 200) {
        failures.set(u.key, 'malformed_reply'); // a 200 without a chat completion in it
        if (usage) book(replyTokens(usage, u.content, '', c.maxTokens), true); // billed all the same
      } else {
        failures.set(u.key, status ? failureOf(status) : `batch_${item.error?.code ?? 'error'}`);
      }
    }
  }
  if (o.ledger && o.reservation) await o.ledger.settle(o.reservation, stats.costUsd);
  else if (o.ledger && stats.costUsd > 0) await o.ledger.book(stats.costUsd);
  return { status: b.status, failures, ...stats };
}

/**
 * A finished batch (or none, when the cache had everything) -> the judged file: its results go into
 * the cache, then the file is written from the cache alone, through the same cache instance.
 */
export async function judgeFromBatch(
  plan: JudgePlan,
  outPath: string,
  o: JudgeRunOptions,
  batch: { client: OpenAI; batchId: string; ledger: BudgetLedger | null; reservation?: string | null } | null,
): Promise<JudgeFileResult> {
  const cache = new JudgementCache(o.cacheDir);
  const got = batch ? await collectBatch(plan, { ...batch, cache }) : null;
  const r = await judgePlanned(plan, outPath, { ...o, cacheOnly: (u) => got?.failures.get(u.key) ?? `batch_${got?.status ?? 'none'}` }, cache);
  if (!got) return r;
  // Written from the cache; what was bought is what the batch brought.
  return Object.assign(r, {
    paidCalls: got.bought,
    paidUnlabelled: got.paidUnlabelled,
    estimatedCalls: got.estimatedCalls,
    cacheHits: r.cacheHits - got.cached,
    promptTokens: got.promptTokens,
    completionTokens: got.completionTokens,
    costUsd: got.costUsd,
  });
}

/**
 * Without a Temporal server (`alignloop judge` with batch enabled): submit, wait in this process, collect.
 * The batch record sits beside the output, so running the command again after a crash resumes the wait.
 */
export async function judgeFileViaBatch(
  inPath: string,
  outPath: string,
  o: JudgeRunOptions & { onStatus?: (s: { status: string; completed: number; failed: number; total: number }) => void },
): Promise<JudgeFileResult> {
  const t0 = performance.now(); // the wait for the batch counts: the elapsed time shown is the real one
  const c = o.config;
  const client = batchClient(c, o.apiKey);
  const plan = await planJudging(inPath, c);
  const ledger = o.budget ? new BudgetLedger(o.budget) : null;
  const recordFile = `${outPath}.batch.json`;
  const key = createHash('sha256')
    .update(JSON.stringify([path.resolve(outPath), plan.units.map((u) => u.key)]))
    .digest('hex')
    .slice(0, 32);
  const rec = await submitBatch(plan, { client, cacheDir: o.cacheDir, recordFile, key, ledger });
  if (rec.batchId) {
    for (;;) {
      const s = await batchStatus(client, c, rec.batchId);
      o.onStatus?.(s);
      if (s.terminal) break;
      await new Promise((r) => setTimeout(r, c.batch.pollSeconds * 1000));
    }
  }
  const r = await judgeFromBatch(plan, outPath, o, rec.batchId ? { client, batchId: rec.batchId, ledger, reservation: rec.reservation } : null);
  fs.rmSync(recordFile, { force: true });
  return { ...r, totalMs: performance.now() - t0 };
}
