/**
 * Score a file of samples, resumably: progress is appended (and fsync'd) per batch to a
 * .progress file beside the output; a restarted run skips the batches it finds there, so a
 * killed worker redoes at most one batch. The output appears atomically at the end, in input order.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { forEachLine } from '../feedback/files';
import { InputError, parseJsonAllowingNonFinite } from '../feedback/scored-samples';
import { writeFileAtomic, WrittenFile } from '../artifacts/atomic-file';
import { RewardScorer, responseText } from './scorer';
import type { Encoded } from './render';

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
  truncated: number;
  tokens: number;
  batches: number;
  batchesResumed: number;
  encodeMs: number;
  inferenceMs: number;
  totalMs: number;
}

export async function readSampleRecords(file: string): Promise<Record<string, unknown>[]> {
  if (!fs.existsSync(file)) throw new InputError(file, undefined, 'file not found');
  const records: Record<string, unknown>[] = [];
  await forEachLine(file, (text, line) => {
    let raw: unknown;
    try {
      raw = parseJsonAllowingNonFinite(text);
    } catch (e) {
      throw new InputError(file, line, `not valid JSON (${(e as Error).message})`);
    }
    const r = raw as Record<string, unknown>;
    if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new InputError(file, line, 'expected a JSON object');
    if (!Array.isArray(r.prompt) || !r.prompt.every((t) => t && typeof t.role === 'string' && typeof t.content === 'string')) {
      throw new InputError(file, line, r.prompt === undefined ? 'missing prompt' : 'prompt must be a list of {role, content} turns');
    }
    if (r.output === undefined) throw new InputError(file, line, 'missing output');
    if (responseText(r.output) === null) throw new InputError(file, line, 'output must be a string or a list of {role, content} turns');
    records.push(r);
  });
  return records;
}

function readProgress(file: string): Map<number, (number | null)[]> {
  const done = new Map<number, (number | null)[]>();
  if (!fs.existsSync(file)) return done;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    try {
      const p = JSON.parse(line) as { batch: number; rewards: (number | null)[] };
      done.set(p.batch, p.rewards);
    } catch {
      break; // a torn last line from a kill: that batch is redone
    }
  }
  return done;
}

export async function scoreFile(
  scorer: RewardScorer,
  inPath: string,
  outPath: string,
  onProgress?: (p: ScoreFileProgress) => void | Promise<void>,
): Promise<ScoreFileResult> {
  const t0 = performance.now();
  const records = await readSampleRecords(inPath);
  const tEnc = performance.now();
  const encoded: Encoded[] = records.map((r) => scorer.encode({ prompt: r.prompt as never, response: responseText(r.output)! }));
  const encodeMs = performance.now() - tEnc;
  const plan = scorer.plan(encoded);
  const progressPath = `${outPath}.progress`;
  const done = readProgress(progressPath);
  // A progress file from another input would mix rewards: its batches must match this plan.
  for (const [b, rewards] of done) if (!plan[b] || plan[b].length !== rewards.length) done.clear();
  const rewards: (number | null)[] = new Array(records.length).fill(undefined);
  let itemsDone = 0;
  const batchesResumed = done.size;
  for (const [b, rs] of done) plan[b].forEach((i, k) => { rewards[i] = rs[k]; itemsDone++; });
  let inferenceMs = 0;
  fs.mkdirSync(path.dirname(outPath), { recursive: true });
  const fd = fs.openSync(progressPath, 'a');
  try {
    for (let b = 0; b < plan.length; b++) {
      if (done.has(b)) continue;
      const t = performance.now();
      const rs = await scorer.runBatch(encoded, plan[b]);
      inferenceMs += performance.now() - t;
      const stored = rs.map((v) => (Number.isFinite(v) ? v : null));
      plan[b].forEach((i, k) => (rewards[i] = stored[k]));
      fs.writeSync(fd, JSON.stringify({ batch: b, rewards: stored }) + '\n');
      fs.fsyncSync(fd);
      done.set(b, stored);
      itemsDone += plan[b].length;
      await onProgress?.({ batchesDone: done.size, batches: plan.length, itemsDone, items: records.length });
    }
  } finally {
    fs.closeSync(fd);
  }
  let labelled = 0, nonFinite = 0, truncated = 0, tokens = 0;
  const lines = records.map((r, i) => {
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
    ...written, items: records.length, labelled, nonFinite, truncated, tokens, batches: plan.length, batchesResumed,
    encodeMs, inferenceMs, totalMs: performance.now() - t0,
  };
}
