/**
 * The campaign's activities. Each one is idempotent: it writes to a deterministic location,
 * atomically, with a completion manifest, and returns the recorded output when it finds one.
 */
import { ApplicationFailure, Context, heartbeat } from '@temporalio/activity';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic, writeJsonAtomic, sha256File } from './artifacts/atomic-file';
import { FileRef, findComplete, iterationDir, markComplete, shardFile, campaignDir, verifyRef } from './artifacts/store';
import { buildFeedback, FeedbackOptionsError, ThresholdRule } from './feedback/build';
import { readScoredSamples } from './feedback/files';
import { formatFile } from './feedback/formats';
import { InputError, ScoredSampleCollector } from './feedback/scored-samples';
import { features, initialCheckpoint, logProbs, parseCheckpoint, PolicyCheckpoint, sampleIndices } from './policy/builtin-policy';
import { seededRng } from './feedback/rng';
import { forEachLine } from './feedback/files';
import { loadPrompts, iterationSlice, PromptRecord } from './prompts';
import { ModelFolderError } from './score/model-folder';
import { scoreFile } from './score/score-file';
import { RewardScorer } from './score/scorer';
import { judgeFile, JudgeBudgetExhausted, JudgeConfigError, JudgeSystemicError, JudgeFileResult, planJudging } from './judge/judge-file';
import { BudgetLedger, BudgetScope } from './judge/budget-ledger';
import { BatchRecord, batchClient, batchStatus, judgeFromBatch, submitBatch } from './judge/batch';
import { JudgedPairCollector, readJudgedPairs } from './feedback/judged-pairs';
import { trainDpo, trainGrpo, trainKto, PairTrainExample, BinaryTrainExample, GroupTrainExample } from './policy/builtin-trainer';
import type {
  CampaignConfig, FeedbackResult, IterationScope, IterationSummary, PreparedPrompts, SampleShardResult, ScoreShardResult, TrainResult,
} from './types';

/** Config and data errors fail the activity for good, with the message a user needs. */
function classify(e: unknown): unknown {
  // The iteration workflow recognises this type and hands the campaign a budget pause.
  if (e instanceof JudgeBudgetExhausted) return ApplicationFailure.create({ message: e.message, type: e.name, nonRetryable: true, details: [{ spentUsd: e.spentUsd }] });
  if (e instanceof InputError || e instanceof ModelFolderError || e instanceof FeedbackOptionsError || e instanceof JudgeConfigError || e instanceof JudgeSystemicError) {
    return ApplicationFailure.nonRetryable(e.message, e.name);
  }
  return e;
}

/** Classifies errors and heartbeats every second while fn runs (so a dead worker is noticed fast). */
async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  const beat = setInterval(() => heartbeat(), 1000);
  try {
    return await fn();
  } catch (e) {
    throw classify(e);
  } finally {
    clearInterval(beat);
  }
}

/** Fault-injection for crash tests: ALIGNLOOP_TEST_SLOW_MS slows each batch / epoch in this worker. */
async function testSlowdown(): Promise<void> {
  const ms = Number(process.env.ALIGNLOOP_TEST_SLOW_MS ?? 0);
  if (ms > 0) await new Promise((r) => setTimeout(r, ms));
}

/**
 * Durability rule 3 in one place: return the recorded output at `file` when it is complete and
 * hash-valid, else compute it (guarded: classified errors, heartbeats) and record it.
 */
async function once<E>(file: string, compute: () => Promise<{ ref: FileRef; extra: E }>): Promise<{ ref: FileRef } & E> {
  const done = findComplete<E>(file);
  if (done) return { ref: done.ref, ...done.extra };
  return guarded(async () => {
    const { ref, extra } = await compute();
    markComplete(ref, extra);
    return { ref, ...extra };
  });
}

function refOf(written: { path: string; sha256: string; bytes: number }, count: number): FileRef {
  return { path: written.path, sha256: written.sha256, bytes: written.bytes, count };
}

export async function initPolicy(input: { campaignId: string; config: CampaignConfig }): Promise<FileRef> {
  const file = path.join(campaignDir(input.config.artifacts.root, input.campaignId), 'initial', 'checkpoint.json');
  const done = findComplete(file);
  if (done) return done.ref;
  const ckpt = initialCheckpoint(input.config.trainer.dims);
  const ref = refOf(writeFileAtomic(file, JSON.stringify(ckpt) + '\n'), 1);
  markComplete(ref, {});
  return ref;
}

export async function preparePrompts(scope: IterationScope): Promise<PreparedPrompts> {
  const { config: c, campaignId, iteration } = scope;
  const indexFile = path.join(iterationDir(c.artifacts.root, campaignId, iteration), 'prompts', 'index.json');
  const done = findComplete<PreparedPrompts>(indexFile);
  if (done) return done.extra;
  return guarded(async () => {
    const all = loadPrompts(c.prompts.path);
    const slice = iterationSlice(all.length, c.prompts.perIteration, iteration, c.prompts.seed);
    if (!c.prompts.reuse && (iteration + 1) * c.prompts.perIteration > all.length) {
      throw new InputError(c.prompts.path, undefined, `iteration ${iteration} needs prompts beyond the ${all.length} in the file`, 'set prompts.reuse: true or fewer iterations');
    }
    const shards: FileRef[] = [];
    for (let k = 0; k * c.sharding.promptsPerShard < slice.length; k++) {
      const part = slice.slice(k * c.sharding.promptsPerShard, (k + 1) * c.sharding.promptsPerShard).map((i) => all[i]);
      const file = shardFile(c.artifacts.root, campaignId, iteration, 'prompts', k);
      shards.push(refOf(writeFileAtomic(file, part.map((p) => JSON.stringify(p) + '\n')), part.length));
    }
    const result: PreparedPrompts = { shards, promptsFileSha256: sha256File(c.prompts.path), promptsIn: slice.length };
    const idx = refOf(writeJsonAtomic(indexFile, result), shards.length);
    markComplete(idx, result);
    return result;
  });
}

function readJsonl<T>(file: string): T[] {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as T);
}

function loadCheckpoint(ref: FileRef, what: string): PolicyCheckpoint {
  verifyRef(ref, what);
  return parseCheckpoint(fs.readFileSync(ref.path, 'utf8'), ref.path);
}

export async function sampleShard(input: IterationScope & { shard: number; prompts: FileRef; policy: FileRef }): Promise<SampleShardResult> {
  const { config: c, campaignId, iteration, shard } = input;
  const file = shardFile(c.artifacts.root, campaignId, iteration, 'samples', shard);
  return once(file, async () => {
    verifyRef(input.prompts, 'prompt shard');
    const policy = loadCheckpoint(input.policy, 'policy checkpoint');
    const prompts = readJsonl<PromptRecord>(input.prompts.path);
    const lines: string[] = [];
    const skipped: Record<string, number> = {};
    let sampled = 0;
    const generator = `builtin@${input.policy.sha256.slice(0, 12)}`;
    prompts.forEach((p, n) => {
      if (!p.candidates || p.candidates.length === 0) {
        skipped.no_candidates = (skipped.no_candidates ?? 0) + 1;
        return;
      }
      const pool = p.candidates.map((t) => features(t, policy.dims));
      const logp = logProbs(policy.theta, pool, c.sampler.temperature);
      const rng = seededRng(`${c.sampler.seed}:${iteration}:${p.prompt_id}`);
      sampleIndices(logp, c.sampler.samplesPerPrompt, rng).forEach((ci, s) => {
        lines.push(JSON.stringify({ prompt_id: p.prompt_id, sample_id: s, prompt: p.prompt, output: p.candidates![ci], iteration, generator, candidate_index: ci }) + '\n');
      });
      sampled++;
      if (n % 64 === 0) heartbeat({ promptsDone: n });
    });
    if (sampled === 0 && prompts.length > 0) {
      throw new InputError(c.prompts.path, undefined, 'the built-in sampler needs "candidates" for each prompt and found none', 'add a candidates list per prompt or use another sampler');
    }
    return { ref: refOf(writeFileAtomic(file, lines), lines.length), extra: { promptsIn: prompts.length, promptsSampled: sampled, skipped } };
  });
}

export async function scoreShard(input: IterationScope & { shard: number; samples: FileRef }): Promise<ScoreShardResult> {
  const { config: c, campaignId, iteration, shard } = input;
  const file = shardFile(c.artifacts.root, campaignId, iteration, 'scored', shard);
  return once(file, async () => {
    verifyRef(input.samples, 'sample shard');
    const l = c.labeler;
    if (l.kind !== 'reward-model') throw new InputError('campaign', undefined, 'scoreShard needs a reward-model labeler');
    const scorer = await RewardScorer.open({
      modelDir: l.model, provider: l.provider, deviceId: l.deviceId, batchTokens: l.batchTokens, maxLength: l.maxLength, threads: l.threads, rewardIndex: l.rewardIndex,
    });
    const r = await scoreFile(scorer, input.samples.path, file, async (p) => {
      heartbeat(p);
      await testSlowdown();
    });
    return {
      ref: refOf(r, r.items),
      extra: { samples: r.items, labelled: r.labelled, unlabelled: (r.nonFinite ? { non_finite: r.nonFinite } : {}) as Record<string, number>, truncated: r.truncated, batchesResumed: r.batchesResumed },
    };
  });
}

/** The campaign's judge spend ledger, booked per iteration; limitUsd is what the iteration may still spend. */
export function judgeBudget(c: CampaignConfig, campaignId: string, iteration: number, limitUsd: number | null): BudgetScope {
  return { dir: path.join(campaignDir(c.artifacts.root, campaignId), 'judge-budget'), scope: `iter-${iteration}`, limitUsd };
}

export function judgeShardExtra(r: JudgeFileResult): Omit<ScoreShardResult, 'ref'> {
  return {
    samples: r.samples, labelled: r.labelled, unlabelled: r.unlabelled, truncated: 0, batchesResumed: 0,
    ...(r.pairStats ? { pairs: r.pairStats } : {}),
    cost: { usd: r.costUsd, paidCalls: r.paidCalls, cacheHits: r.cacheHits, rateLimited: r.rateLimited, promptTokens: r.promptTokens, completionTokens: r.completionTokens, templateSha256: r.templateSha256 },
  };
}

export type JudgeShardInput = IterationScope & { shard: number; samples: FileRef; budgetUsd: number | null };

export function judgeDirs(c: CampaignConfig, campaignId: string) {
  return { cacheDir: path.join(campaignDir(c.artifacts.root, campaignId), 'judge-cache'), limiterDir: path.join(campaignDir(c.artifacts.root, campaignId), 'judge-limiter') };
}

/** The judge settings; the key comes from this worker's environment and never enters inputs, history or artifacts. */
function judgeOf(c: CampaignConfig) {
  if (c.labeler.kind !== 'judge') throw ApplicationFailure.nonRetryable('this activity needs a judge labeler', 'ConfigError');
  return { judge: c.labeler, apiKey: process.env[c.labeler.apiKeyEnv] || 'none' };
}

export async function judgeShard(input: JudgeShardInput): Promise<ScoreShardResult> {
  const { config: c, campaignId, iteration, shard } = input;
  const { judge, apiKey } = judgeOf(c);
  const file = shardFile(c.artifacts.root, campaignId, iteration, 'scored', shard);
  return once(file, async () => {
    verifyRef(input.samples, 'sample shard');
    // once() keeps heartbeating while rate limits hold requests back; progress goes out as it comes.
    const r = await judgeFile(input.samples.path, file, {
      config: judge, apiKey, ...judgeDirs(c, campaignId), budget: judgeBudget(c, campaignId, iteration, input.budgetUsd),
      onProgress: async (p) => {
        heartbeat(p);
        await testSlowdown();
      },
    });
    return { ref: refOf(r, r.items), extra: judgeShardExtra(r) };
  });
}


function batchRecordFile(c: CampaignConfig, campaignId: string, iteration: number, shard: number): string {
  return path.join(iterationDir(c.artifacts.root, campaignId, iteration), 'judge-batches', `shard-${String(shard).padStart(5, '0')}.json`);
}

/** Batch mode, step 1: upload what the cache lacks and create the batch (idempotent: see batch.ts). */
export async function submitJudgeBatch(input: JudgeShardInput): Promise<{ batchId: string | null; requests: number }> {
  const { config: c, campaignId, iteration, shard } = input;
  const { judge, apiKey } = judgeOf(c);
  if (findComplete(shardFile(c.artifacts.root, campaignId, iteration, 'scored', shard))) return { batchId: null, requests: 0 };
  return guarded(async () => {
    verifyRef(input.samples, 'sample shard');
    const plan = await planJudging(input.samples.path, judge);
    const key = createHash('sha256').update(JSON.stringify([campaignId, iteration, shard, input.samples.sha256, plan.template.sha256])).digest('hex').slice(0, 32);
    const rec = await submitBatch(plan, {
      client: batchClient(judge, apiKey), cacheDir: judgeDirs(c, campaignId).cacheDir, key, recordFile: batchRecordFile(c, campaignId, iteration, shard),
      ledger: new BudgetLedger(judgeBudget(c, campaignId, iteration, input.budgetUsd)),
    });
    return { batchId: rec.batchId, requests: rec.requests };
  });
}

/** Batch mode, step 2: one short look at the batch. Not finished -> a retryable failure; the retry policy is the poll interval. */
export async function awaitJudgeBatch(input: { config: CampaignConfig; batchId: string }): Promise<{ status: string; completed: number; failed: number; total: number }> {
  const { judge, apiKey } = judgeOf(input.config);
  const s = await guarded(() => batchStatus(batchClient(judge, apiKey), judge, input.batchId));
  if (!s.terminal) throw ApplicationFailure.retryable(`batch ${input.batchId} is ${s.status}: ${s.completed + s.failed}/${s.total} done`, 'JudgeBatchPending');
  return s;
}

/** Batch mode, step 3: download the results into the cache, then write the shard from the cache alone. */
export async function collectJudgeBatch(input: JudgeShardInput & { batchId: string | null }): Promise<ScoreShardResult> {
  const { config: c, campaignId, iteration, shard } = input;
  const { judge, apiKey } = judgeOf(c);
  const file = shardFile(c.artifacts.root, campaignId, iteration, 'scored', shard);
  return once(file, async () => {
    verifyRef(input.samples, 'sample shard');
    const record = input.batchId ? (JSON.parse(fs.readFileSync(batchRecordFile(c, campaignId, iteration, shard), 'utf8')) as BatchRecord) : null;
    const r = await judgeFromBatch(await planJudging(input.samples.path, judge), file, { config: judge, apiKey, ...judgeDirs(c, campaignId), onProgress: (p) => heartbeat(p) },
      input.batchId ? { client: batchClient(judge, apiKey), batchId: input.batchId, ledger: new BudgetLedger(judgeBudget(c, campaignId, iteration, null)), reservation: record?.reservation } : null);
    return { ref: refOf(r, r.items), extra: judgeShardExtra(r) };
  });
}

export async function buildIterationFeedback(input: IterationScope & { scored: FileRef[] }): Promise<FeedbackResult> {
  const { config: c, campaignId, iteration } = input;
  const dir = path.join(iterationDir(c.artifacts.root, campaignId, iteration), 'feedback');
  const statsFile = path.join(dir, 'stats.json');
  const done = findComplete<FeedbackResult>(statsFile);
  if (done) return done.extra;
  return guarded(async () => {
    let built: Pick<ReturnType<typeof buildFeedback>, 'examples' | 'stats'>;
    if (c.labeler.kind === 'judge' && c.labeler.mode === 'pairwise') {
      // The pairwise judge's verdicts are the feedback: no reward gaps to pair on.
      const pairs = new JudgedPairCollector(c.feedback.seed);
      for (const ref of input.scored) {
        verifyRef(ref, 'judged-pairs shard');
        await readJudgedPairs(ref.path, pairs);
      }
      built = pairs.finish();
    } else {
      built = await feedbackFromScores(c, input.scored);
    }
    const { examples, stats } = built;
    let files: FeedbackResult['files'] = null;
    if (examples.length > 0) {
      files = {
        jsonl: refOf(writeFileAtomic(path.join(dir, 'feedback.jsonl'), formatFile(examples, 'jsonl')), examples.length),
        halos: refOf(writeFileAtomic(path.join(dir, 'feedback.halos.json'), formatFile(examples, 'halos')), examples.length),
        trl: refOf(writeFileAtomic(path.join(dir, 'feedback.trl.jsonl'), formatFile(examples, 'trl')), examples.length),
      };
    }
    const result: FeedbackResult = { files, stats };
    markComplete(refOf(writeJsonAtomic(statsFile, stats), stats.examples_out), result);
    return result;
  });
}

async function feedbackFromScores(c: CampaignConfig, scored: FileRef[]) {
  const collector = new ScoredSampleCollector('scored shards');
  for (const ref of scored) {
    verifyRef(ref, 'scored shard');
    collector.file = ref.path; // errors name the shard they come from
    await readScoredSamples(ref.path, collector);
  }
  const f = c.feedback;
  return buildFeedback(collector.groups, {
    type: f.type, mode: f.mode, threshold: f.threshold as ThresholdRule | undefined, thresholdScope: f.perPrompt ? 'prompt' : 'global', seed: f.seed,
  });
}

interface NativeExample {
  prompt_id: string;
  output?: { content: string }[];
  output_A?: { content: string }[];
  output_B?: { content: string }[];
  label?: number;
  reward?: number;
  type: string;
}

function buildTrainingData(c: CampaignConfig, pools: Map<string, string[]>, examples: NativeExample[], dims: number) {
  const featCache = new Map<string, ReturnType<typeof features>[]>();
  const poolOf = (pid: string) => {
    let f = featCache.get(pid);
    if (!f) {
      const cands = pools.get(pid);
      if (!cands) throw new Error(`feedback names prompt ${pid}, which is not in this iteration's prompts`);
      f = cands.map((t) => features(t, dims));
      featCache.set(pid, f);
    }
    return f;
  };
  const indexOf = (pid: string, turns: { content: string }[] | undefined) => {
    const text = (turns ?? []).map((t) => t.content).join('\n');
    const i = pools.get(pid)!.indexOf(text);
    if (i < 0) throw new Error(`a feedback output for ${pid} is not one of its candidates`);
    return i;
  };
  const method = c.trainer.method;
  if (method === 'dpo') {
    return examples.map((e): PairTrainExample => {
      const a = indexOf(e.prompt_id, e.output_A), b = indexOf(e.prompt_id, e.output_B);
      return { pool: poolOf(e.prompt_id), chosen: e.label === 1 ? a : b, rejected: e.label === 1 ? b : a };
    });
  }
  if (method === 'kto') {
    return examples.flatMap((e): BinaryTrainExample[] => {
      if (e.type === 'pairwise_feedback') {
        const a = indexOf(e.prompt_id, e.output_A), b = indexOf(e.prompt_id, e.output_B);
        const [w, l] = e.label === 1 ? [a, b] : [b, a];
        return [{ pool: poolOf(e.prompt_id), index: w, desirable: true }, { pool: poolOf(e.prompt_id), index: l, desirable: false }];
      }
      return [{ pool: poolOf(e.prompt_id), index: indexOf(e.prompt_id, e.output), desirable: e.label === 1 }];
    });
  }
  const groups = new Map<string, GroupTrainExample>();
  for (const e of examples) {
    let g = groups.get(e.prompt_id);
    if (!g) groups.set(e.prompt_id, (g = { pool: poolOf(e.prompt_id), indices: [], rewards: [] }));
    g.indices.push(indexOf(e.prompt_id, e.output));
    g.rewards.push(e.reward as number);
  }
  return [...groups.values()];
}

export async function trainPolicy(
  input: IterationScope & { feedback: FileRef | null; emptyReason: string | null; policy: FileRef; reference: FileRef; prompts: FileRef[] },
): Promise<TrainResult> {
  const { config: c, campaignId, iteration } = input;
  const dir = path.join(iterationDir(c.artifacts.root, campaignId, iteration), 'train');
  const file = path.join(dir, 'checkpoint.json');
  const done = findComplete<Omit<TrainResult, 'checkpoint'>>(file);
  if (done) return { checkpoint: done.ref, ...done.extra };
  return guarded(async () => {
    const policy = loadCheckpoint(input.policy, 'policy checkpoint');
    const reference = loadCheckpoint(input.reference, 'reference checkpoint');
    const t = c.trainer;
    let extra: Omit<TrainResult, 'checkpoint'>;
    let next: PolicyCheckpoint;
    if (!input.feedback) {
      next = { ...policy, parent: input.policy.sha256, iteration, method: t.method };
      extra = { trained: false, examples: 0, firstLoss: null, lastLoss: null, resumedFromEpoch: 0, skippedReason: input.emptyReason ?? 'no feedback' };
    } else {
      verifyRef(input.feedback, 'feedback file');
      const pools = new Map<string, string[]>();
      for (const ref of input.prompts) for (const p of readJsonl<PromptRecord>(ref.path)) if (p.candidates) pools.set(p.prompt_id, p.candidates);
      const examples: NativeExample[] = [];
      await forEachLine(input.feedback.path, (l) => examples.push(JSON.parse(l)));
      const data = buildTrainingData(c, pools, examples, policy.dims);
      // Resume from the last persisted epoch when the inputs are the same ones.
      const progressFile = path.join(dir, 'progress.json');
      const key = `${input.policy.sha256}:${input.reference.sha256}:${input.feedback.sha256}`;
      let start = { epoch: 0, theta: policy.theta };
      if (fs.existsSync(progressFile)) {
        try {
          const p = JSON.parse(fs.readFileSync(progressFile, 'utf8'));
          if (p.key === key && Array.isArray(p.theta) && p.theta.length === policy.dims) start = { epoch: p.epoch, theta: p.theta };
        } catch { /* torn or foreign: start over */ }
      }
      const opts = { beta: t.beta, learningRate: t.learningRate, epochs: t.epochs, temperature: c.sampler.temperature, desirableWeight: t.desirableWeight, undesirableWeight: t.undesirableWeight };
      const onEpoch = async (r: { epoch: number; loss: number }, theta: Float64Array) => {
        heartbeat({ epoch: r.epoch, epochs: t.epochs, loss: r.loss });
        if (r.epoch % 5 === 0 || r.epoch === t.epochs) writeJsonAtomic(progressFile, { key, epoch: r.epoch, theta: Array.from(theta) });
        await testSlowdown();
      };
      Context.current().heartbeat({ epoch: start.epoch, epochs: t.epochs });
      const trainFn = t.method === 'dpo' ? trainDpo : t.method === 'kto' ? trainKto : trainGrpo;
      const res = await (trainFn as (a: number[], b: number[], d: unknown[], o: typeof opts, e: typeof onEpoch, s: number) => Promise<{ theta: number[]; losses: number[] }>)(
        start.theta, reference.theta, data, opts, onEpoch, start.epoch,
      );
      next = { format: policy.format, dims: policy.dims, theta: res.theta, parent: input.policy.sha256, iteration, method: t.method };
      extra = { trained: true, examples: data.length, firstLoss: res.losses[0] ?? null, lastLoss: res.losses[res.losses.length - 1] ?? null, resumedFromEpoch: start.epoch, skippedReason: null };
    }
    const ref = refOf(writeFileAtomic(file, JSON.stringify(next) + '\n'), 1);
    markComplete(ref, extra);
    fs.rmSync(path.join(dir, 'progress.json'), { force: true });
    return { checkpoint: ref, ...extra };
  });
}

export interface ManifestInput extends IterationScope {
  policyIn: FileRef;
  reference: FileRef;
  prompts: import('./types').PreparedPrompts;
  samples: SampleShardResult[];
  scored: ScoreShardResult[];
  feedback: FeedbackResult;
  train: TrainResult;
  timings: Record<string, number>;
  startedAt: string;
}

export async function writeIterationManifest(input: ManifestInput): Promise<IterationSummary> {
  const { config: c, campaignId, iteration } = input;
  const file = path.join(iterationDir(c.artifacts.root, campaignId, iteration), 'manifest.json');
  const done = findComplete<IterationSummary>(file);
  if (done) return done.extra;
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const merge = (rs: Record<string, number>[]) => rs.reduce((acc, r) => { for (const [k, v] of Object.entries(r)) acc[k] = (acc[k] ?? 0) + v; return acc; }, {} as Record<string, number>);
  const counts = {
    prompts_in: input.prompts.promptsIn,
    prompts_sampled: sum(input.samples.map((s) => s.promptsSampled)),
    prompts_skipped: merge(input.samples.map((s) => s.skipped)),
    samples: sum(input.samples.map((s) => s.ref.count)),
    scored: sum(input.scored.map((s) => s.labelled)),
    unlabelled: merge(input.scored.map((s) => s.unlabelled)),
    truncated: sum(input.scored.map((s) => s.truncated)),
    examples: input.feedback.stats.examples_out,
  };
  // Durability rule 7: counts add up (for judged pairs: decided + tied + unlabelled = judged).
  const skipped = sum(Object.values(counts.prompts_skipped));
  const unl = sum(Object.values(counts.unlabelled));
  const pairs = input.scored.some((s) => s.pairs) ? {
    pairs: sum(input.scored.map((s) => s.pairs?.pairs ?? 0)), decided: sum(input.scored.map((s) => s.pairs?.decided ?? 0)),
    ties: sum(input.scored.map((s) => s.pairs?.ties ?? 0)), inconsistent: sum(input.scored.map((s) => s.pairs?.inconsistent ?? 0)),
  } : null;
  const labelAddsUp = pairs ? pairs.decided + pairs.ties + pairs.inconsistent + unl === pairs.pairs : counts.scored + unl === counts.samples;
  if (counts.prompts_sampled + skipped !== counts.prompts_in || !labelAddsUp) {
    throw ApplicationFailure.nonRetryable(`iteration ${iteration}: counts do not add up: ${JSON.stringify(counts)}`, 'InvariantViolation');
  }
  const judgeUsd = c.labeler.kind === 'judge'
    ? Math.max(new BudgetLedger(judgeBudget(c, campaignId, iteration, null)).spent(), sum(input.scored.map((s) => s.cost?.usd ?? 0)))
    : 0;
  const manifest = {
    campaign: campaignId, iteration, started_at: input.startedAt, config_name: c.name,
    counts,
    feedback: input.feedback.stats,
    reward: input.feedback.stats.reward,
    empty_reason: input.feedback.stats.empty_reason,
    ...(pairs ? { judged_pairs: pairs } : {}),
    cost: {
      judge_usd: judgeUsd,
      // What this iteration's shards bought in their final attempts; judge_usd also counts attempts cut short (budget pause, kill).
      judge_usd_final_attempts: sum(input.scored.map((s) => s.cost?.usd ?? 0)),
      paid_calls: sum(input.scored.map((s) => s.cost?.paidCalls ?? 0)),
      cache_hits: sum(input.scored.map((s) => s.cost?.cacheHits ?? 0)),
      rate_limited: sum(input.scored.map((s) => s.cost?.rateLimited ?? 0)),
      prompt_tokens: sum(input.scored.map((s) => s.cost?.promptTokens ?? 0)),
      completion_tokens: sum(input.scored.map((s) => s.cost?.completionTokens ?? 0)),
    },
    timings_seconds: input.timings,
    train: input.train,
    lineage: {
      prompts_file: { path: c.prompts.path, sha256: input.prompts.promptsFileSha256 },
      policy_in: input.policyIn, reference: input.reference, checkpoint_out: input.train.checkpoint,
      labeler: c.labeler.kind === 'judge'
        ? { kind: 'judge', model: c.labeler.model, base_url: c.labeler.baseURL, template_sha256: input.scored[0]?.cost?.templateSha256 ?? null }
        : { kind: c.labeler.kind, model: c.labeler.model },
    },
    artifacts: {
      prompts: input.prompts.shards, samples: input.samples.map((s) => s.ref), scored: input.scored.map((s) => s.ref), feedback: input.feedback.files,
    },
  };
  const summary: IterationSummary = {
    iteration, prompts: counts.prompts_in, samples: counts.samples, labelled: counts.scored, examples: counts.examples,
    rewardMean: input.feedback.stats.reward?.mean ?? null, checkpoint: input.train.checkpoint.path, checkpointSha256: input.train.checkpoint.sha256,
    manifest: file, wallSeconds: sum(Object.values(input.timings)), emptyReason: input.feedback.stats.empty_reason,
    costUsd: judgeUsd,
  };
  const ref = refOf(writeJsonAtomic(file, manifest), 1);
  markComplete(ref, summary);
  return summary;
}
