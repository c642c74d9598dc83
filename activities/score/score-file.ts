/**
 * Score a file of samples, resumably: progress is appended per batch (fsync'd at most once a second) to a
 * .progress file beside the output; a restarted run skips the batches it finds there, so a
 * killed worker redoes at most one batch. The output appears atomically at the end, in input order.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { forEachJsonLine, parseJsonLines } from '../artifacts/json-lines';
import { sha256File, writeFileAtomic, WrittenFile } from '../artifacts/atomic-file';
import { RewardScorer, responseText } from './scorer';
import type { Encoded } from './render';
import { InputError } from '../../config/errors';

export interface ScoreFileProgress {
  batchesDone: number;
  batches: number;
  itemsDone: number;
  items: number;
}

export interface ScoreFileResult extends WrittenFile {
  items: number;
  labelled: number;
  nonFinite: number;
  /** Records that could not be rendered or tokenized (e.g. the chat template raised on them), by reason: unlabelled, not fatal. */
  failed: Record<string, number>;
  truncated: number;
  tokens: number;
  batches: number;
  batchesResumed: number;
  /** Why an earlier attempt's progress file was not reused (its input, model or settings differ), else null. */
  progressDiscarded: string | null;
  /** Templating + tokenization (overlapped with inference, except for the first window). */
  encodeMs: number;
  totalMs: number;
}

/** The input line of a record, for per-record error messages (not written out). */
const LINE = Symbol('line');

export async function readSampleRecords(file: string): Promise<Record<string, unknown>[]> {
  if (!fs.existsSync(file)) throw new InputError(file, undefined, 'file not found');
  const records: Record<string, unknown>[] = [];
  await forEachJsonLine(file, (raw, line) => {
    const r = raw as Record<string, unknown>;
    if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new InputError(file, line, 'expected a JSON object');
    // A plain-string prompt (as prompts files allow) is one user turn.
    if (typeof r.prompt === 'string' && r.prompt.trim() !== '') r.prompt = [{ role: 'user', content: r.prompt }];
    if (!Array.isArray(r.prompt) || r.prompt.length === 0 || !r.prompt.every((t) => t && typeof t.role === 'string' && typeof t.content === 'string')) {
      throw new InputError(file, line, r.prompt === undefined ? 'missing prompt' : 'prompt must be a non-empty string or a list of {role, content} turns');
    }
    (r as Record<symbol, unknown>)[LINE] = line;
    if (r.output === undefined) throw new InputError(file, line, 'missing output');
    if (responseText(r.output) === null) throw new InputError(file, line, 'output must be a string or a list of {role, content} turns');
    records.push(r);
  });
  return records;
}

interface ProgressHeader {
  input: string;
  /** What the batch plan depends on besides the input: a batch number means the same items only when these agree. */
  window: number;
  batchTokens: number;
  maxLength: number;
  inputFormat: string;
  /** What the rewards depend on: the model's fingerprint (every file, modelFile included), the reward logit, the chat template. */
  model: string;
  rewardIndex: number | 'auto';
  chatTemplate: string | null;
}

const WHAT: Record<keyof ProgressHeader, string> = {
  input: 'the input file',
  window: 'the encode window',
  batchTokens: 'batchTokens',
  maxLength: 'maxLength',
  inputFormat: 'the input format',
  model: 'the reward model',
  rewardIndex: 'the reward index',
  chatTemplate: 'the chat template',
};

/**
 * Persisted batches of an earlier attempt on the same input, plan and model (first line: the header),
 * and why a progress file that is there was not reused.
 */
function readProgress(
  file: string,
  expected: ProgressHeader,
): { done: Map<number, { items: number[]; rewards: (number | null)[] }>; discarded: string | null } {
  const done = new Map<number, { items: number[]; rewards: (number | null)[] }>();
  if (!fs.existsSync(file)) return { done, discarded: null };
  const [header, ...batches] = parseJsonLines<Partial<ProgressHeader> & { batch: number; items: number[]; rewards: (number | null)[] }>(
    fs.readFileSync(file, 'utf8'),
    'stop',
  );
  const differ = (Object.keys(expected) as (keyof ProgressHeader)[]).filter((k) => !header || header[k] !== expected[k]);
  if (differ.length > 0) {
    return {
      done,
      discarded: `${file}: ${header ? `${differ.map((k) => WHAT[k]).join(', ')} changed` : 'no header'} since it was written; scoring from the start`,
    };
  }
  // A torn last line from a kill ends the list: that batch is redone.
  for (const p of batches) if (Array.isArray(p.items) && Array.isArray(p.rewards)) done.set(p.batch, { items: p.items, rewards: p.rewards });
  return { done, discarded: null };
}

/**
 * Items are encoded and planned in fixed windows, so ORT scores one window while the next is tokenized.
 * Batches are planned (sorted by length) within a window, so a small window pads more: at 1,024 items the
 * bench model computed 5.6% more padded tokens than one plan over its 2,400 items, which cost more than
 * overlapping the first window's tokenization won. At 8,192 the padding is within 0.5% of a whole-file
 * plan, and the first window's tokenization (~55 us an item on one core) is a small prefix of its inference.
 */
export const ENCODE_WINDOW = 8192;

export async function scoreFile(
  scorer: RewardScorer,
  inPath: string,
  outPath: string,
  onProgress?: (p: ScoreFileProgress) => void | Promise<void>,
): Promise<ScoreFileResult> {
  const t0 = performance.now();
  const records = await readSampleRecords(inPath);
  const encoded: Encoded[] = new Array(records.length);
  // Per-record failures leave that record unlabelled with its reason; the rest of the file is scored.
  const failures = new Map<number, { status: string; error: string }>();
  const windows: number[][] = [];
  for (let w = 0; w * ENCODE_WINDOW < records.length; w++) {
    windows.push(Array.from({ length: Math.min(ENCODE_WINDOW, records.length - w * ENCODE_WINDOW) }, (_, k) => w * ENCODE_WINDOW + k));
  }
  let encodeMs = 0;
  const encodeWindow = async (items: number[]): Promise<number[][]> => {
    const t = performance.now();
    const ok: number[] = [];
    const results = await scorer.encodeMany(items.map((i) => ({ prompt: records[i].prompt as never, response: responseText(records[i].output)! })));
    items.forEach((i, k) => {
      const r = results[k];
      if (!(r instanceof Error)) {
        encoded[i] = r;
        ok.push(i);
        return;
      }
      const line = (records[i] as Record<symbol, unknown>)[LINE];
      failures.set(i, { status: 'template_error', error: `${inPath}:${line}: the chat template or tokenizer failed on this record: ${r.message}` });
      encoded[i] = { ids: [], truncated: false };
    });
    encodeMs += performance.now() - t;
    return scorer.plan(ok.map((i) => encoded[i])).map((b) => b.map((k) => ok[k]));
  };
  const progressPath = `${outPath}.progress`;
  const header: ProgressHeader = {
    input: sha256File(inPath),
    window: ENCODE_WINDOW,
    batchTokens: scorer.batchTokens,
    maxLength: scorer.encoder.maxLength,
    inputFormat: scorer.encoder.inputFormat,
    model: scorer.fingerprint.sha256,
    rewardIndex: scorer.rewardIndex,
    chatTemplate: scorer.model.chatTemplate === null ? null : createHash('sha256').update(scorer.model.chatTemplate).digest('hex'),
  };
  const { done, discarded } = readProgress(progressPath, header);
  if (done.size === 0) writeFileAtomic(progressPath, JSON.stringify(header) + '\n');
  const rewards: (number | null)[] = new Array(records.length).fill(undefined);
  fs.mkdirSync(path.dirname(outPath), { recursive: true });
  const fd = fs.openSync(progressPath, 'a');
  const plan: number[][] = [];
  let itemsDone = 0;
  let batchesDone = 0;
  let batchesResumed = 0;
  let chain: Promise<void> = Promise.resolve();
  let lastSync = performance.now();
  const persist = async (b: number, stored: (number | null)[]) => {
    plan[b].forEach((i, k) => (rewards[i] = stored[k]));
    // The write alone survives a killed process (the page cache keeps it); fsync, for a lost machine,
    // at most once a second, off the per-batch path.
    fs.writeSync(fd, JSON.stringify({ batch: b, items: plan[b], rewards: stored }) + '\n');
    if (performance.now() - lastSync > 1000) {
      fs.fsyncSync(fd);
      lastSync = performance.now();
    }
    itemsDone += plan[b].length;
    batchesDone++;
    await onProgress?.({ batchesDone, batches: plan.length, itemsDone, items: records.length });
  };
  try {
    for (const items of windows) {
      for (const batch of await encodeWindow(items)) {
        const b = plan.push(batch) - 1;
        const prior = done.get(b);
        // Only a batch of exactly these records (input lines) is reused.
        if (prior && prior.rewards.length === batch.length && prior.items.length === batch.length && prior.items.every((i, k) => i === batch[k])) {
          batch.forEach((i, k) => (rewards[i] = prior.rewards[k]));
          itemsDone += batch.length;
          batchesResumed++;
          batchesDone++;
          continue;
        }
        // Post now (the ORT thread queues it); persist in order as results come back.
        const result = scorer.runBatch(encoded, batch);
        result.catch(() => undefined);
        chain = chain.then(async () => {
          const rs = await result;
          await persist(
            b,
            rs.map((v) => (Number.isFinite(v) ? v : null)),
          );
        });
      }
    }
    await chain;
  } finally {
    await chain.catch(() => undefined);
    fs.closeSync(fd);
  }
  let labelled = 0,
    nonFinite = 0,
    truncated = 0,
    tokens = 0;
  const failed: Record<string, number> = {};
  const lines = records.map((r, i) => {
    const f = failures.get(i);
    if (f) {
      failed[f.status] = (failed[f.status] ?? 0) + 1;
      return JSON.stringify({ ...r, reward: null, label_status: f.status, label_error: f.error }) + '\n';
    }
    const reward = rewards[i];
    const out: Record<string, unknown> = { ...r, reward, label_status: reward === null ? 'non_finite' : 'ok' };
    if (encoded[i].truncated) {
      out.truncated = true;
      truncated++;
    }
    tokens += encoded[i].ids.length;
    if (reward === null) nonFinite++;
    else labelled++;
    return JSON.stringify(out) + '\n';
  });
  const written = writeFileAtomic(outPath, lines);
  fs.rmSync(progressPath, { force: true });
  return {
    ...written,
    items: records.length,
    labelled,
    nonFinite,
    failed,
    truncated,
    tokens,
    batches: plan.length,
    batchesResumed,
    progressDiscarded: discarded,
    encodeMs,
    totalMs: performance.now() - t0,
  };
}
