/** The built-in trainer: DPO / KTO / GRPO on the miniature policy, resumable every 5 epochs. */
import { heartbeat } from '@temporalio/activity';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../../config/errors';
import type { CampaignConfig } from '../../config/schema';
import { readJsonl, forEachJsonLine } from '../artifacts/json-lines';
import { writeFileAtomic, writeJsonAtomic } from '../artifacts/atomic-file';
import { verifyRef } from '../artifacts/store';
import { testSlowdown } from '../durable';
import { features, initialCheckpoint, PolicyCheckpoint } from '../policy/builtin-policy';
import { BinaryTrainExample, GroupTrainExample, PairTrainExample, trainDpo, trainGrpo, trainKto } from '../policy/builtin-trainer';
import { loadBuiltinCheckpoint } from '../policy/checkpoint-file';
import type { PromptRecord } from '../prompts';
import type { Trainer, TrainJob, TrainOutcome } from './trainer';

/** The fields of a native feedback record the built-in trainer reads. */
interface NativeExample {
  prompt_id: string;
  output?: { content: string }[];
  output_A?: { content: string }[];
  output_B?: { content: string }[];
  label?: number;
  reward?: number;
  type: string;
}

/** Feedback examples -> indices into each prompt's candidate pool, in the shape the method trains on. */
export function buildTrainingData(method: CampaignConfig['trainer']['method'], pools: Map<string, string[]>, examples: NativeExample[], dims: number) {
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
  if (method === 'dpo') {
    return examples.map((e): PairTrainExample => {
      const a = indexOf(e.prompt_id, e.output_A),
        b = indexOf(e.prompt_id, e.output_B);
      return { pool: poolOf(e.prompt_id), chosen: e.label === 1 ? a : b, rejected: e.label === 1 ? b : a };
    });
  }
  if (method === 'kto') {
    return examples.flatMap((e): BinaryTrainExample[] => {
      if (e.type === 'pairwise_feedback') {
        const a = indexOf(e.prompt_id, e.output_A),
          b = indexOf(e.prompt_id, e.output_B);
        const [w, l] = e.label === 1 ? [a, b] : [b, a];
        return [
          { pool: poolOf(e.prompt_id), index: w, desirable: true },
          { pool: poolOf(e.prompt_id), index: l, desirable: false },
        ];
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

type TrainFn = (
  theta0: number[],
  ref: number[],
  data: unknown[],
  opts: object,
  onEpoch: unknown,
  startEpoch: number,
) => Promise<{ theta: number[]; losses: number[] }>;

async function train(job: TrainJob): Promise<TrainOutcome> {
  const { config: c, iteration } = job;
  const policy = loadBuiltinCheckpoint(job.policy, 'policy checkpoint');
  const reference = loadBuiltinCheckpoint(job.reference, 'reference checkpoint');
  const t = c.trainer;
  if (t.kind !== 'builtin') throw new ConfigError('campaign', ['the built-in trainer needs trainer.kind: builtin']);
  if (!job.feedback) {
    const next: PolicyCheckpoint = { ...policy, parent: job.policy.sha256, iteration, method: t.method };
    return {
      written: writeFileAtomic(job.checkpointFile, JSON.stringify(next) + '\n'),
      extra: { trained: false, examples: 0, firstLoss: null, lastLoss: null, resumedFromEpoch: 0, skippedReason: job.emptyReason ?? 'no feedback' },
    };
  }
  verifyRef(job.feedback, 'feedback file');
  const pools = new Map<string, string[]>();
  for (const ref of job.prompts) for (const p of await readJsonl<PromptRecord>(ref.path)) if (p.candidates) pools.set(p.prompt_id, p.candidates);
  const examples: NativeExample[] = [];
  await forEachJsonLine(job.feedback.path, (raw) => examples.push(raw as NativeExample));
  const data = buildTrainingData(t.method, pools, examples, policy.dims);
  // Resume from the last persisted epoch when the inputs are the same ones.
  const progressFile = path.join(job.dir, 'progress.json');
  const key = `${job.policy.sha256}:${job.reference.sha256}:${job.feedback.sha256}`;
  let start = { epoch: 0, theta: policy.theta };
  if (fs.existsSync(progressFile)) {
    try {
      const p = JSON.parse(fs.readFileSync(progressFile, 'utf8'));
      if (p.key === key && Array.isArray(p.theta) && p.theta.length === policy.dims) start = { epoch: p.epoch, theta: p.theta };
    } catch {
      /* torn or foreign: start over */
    }
  }
  const opts = {
    beta: t.beta,
    learningRate: t.learningRate,
    epochs: t.epochs,
    temperature: 'temperature' in c.sampler ? c.sampler.temperature : 1,
    desirableWeight: t.desirableWeight,
    undesirableWeight: t.undesirableWeight,
    pulse: () => heartbeat({ epochs: t.epochs, note: 'training' }),
  };
  const onEpoch = async (r: { epoch: number; loss: number }, theta: Float64Array) => {
    heartbeat({ epoch: r.epoch, epochs: t.epochs, loss: r.loss });
    if (r.epoch % 5 === 0 || r.epoch === t.epochs) writeJsonAtomic(progressFile, { key, epoch: r.epoch, theta: Array.from(theta) });
    await testSlowdown();
  };
  heartbeat({ epoch: start.epoch, epochs: t.epochs });
  const trainFn = (t.method === 'dpo' ? trainDpo : t.method === 'kto' ? trainKto : trainGrpo) as unknown as TrainFn;
  const res = await trainFn(start.theta, reference.theta, data, opts, onEpoch, start.epoch);
  const next: PolicyCheckpoint = { format: policy.format, dims: policy.dims, theta: res.theta, parent: job.policy.sha256, iteration, method: t.method };
  const written = writeFileAtomic(job.checkpointFile, JSON.stringify(next) + '\n');
  fs.rmSync(progressFile, { force: true });
  return {
    written,
    extra: {
      trained: true,
      examples: data.length,
      firstLoss: res.losses[0] ?? null,
      lastLoss: res.losses[res.losses.length - 1] ?? null,
      resumedFromEpoch: start.epoch,
      skippedReason: null,
    },
  };
}

export const builtinTrainer: Trainer = {
  checkpointName: 'checkpoint.json',
  writeInitialPolicy: (config, file) =>
    writeFileAtomic(file, JSON.stringify(initialCheckpoint(config.trainer.kind === 'builtin' ? config.trainer.dims : 512)) + '\n'),
  train,
};
