/** The built-in trainer: DPO / KTO / GRPO on the miniature policy, resumable every 5 epochs. */
import { StepRate } from '../progress';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { forEachJsonLine } from '../../artifacts/json-lines';
import { writeFileAtomic, writeJsonAtomic } from '../../artifacts/atomic-file';
import { verifyRef } from '../../artifacts/store';
import { beat, testSlowdown } from '../../durable';
import { initialCheckpoint, PolicyCheckpoint } from '../../policy/builtin-policy';
import { FeatureStore, Pool } from '../../policy/feature-store';
import { BinaryTrainExample, GroupTrainExample, PairTrainExample, trainDpo, trainGrpo, trainKto } from '../../policy/builtin-trainer';
import { loadBuiltinCheckpoint } from '../../policy/checkpoint-file';
import type { PromptRecord } from '../../prompts';
import type { BuiltinTrainerConfig } from './config';
import type { Trainer, TrainJob, TrainOutcome } from '../trainer';

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

/** 53 bits of two FNV-1a hashes: a candidate text's identity within its prompt's pool. */
function textKey(text: string): number {
  let a = 0x811c9dc5,
    b = 0x9dc5811c;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x01000193) >>> 0;
  }
  return (a & 0x1fffff) * 2 ** 32 + b;
}

const joined = (turns: { content: string }[] | undefined) => (turns ?? []).map((t) => t.content).join('\n');

/** One feedback example, without its texts: outputs by text key until the prompts resolve them to candidate indices. */
interface Compact {
  pid: string;
  a: number;
  b: number;
  label: number;
  reward: number;
  pairwise: boolean;
}

/**
 * Feedback examples -> indices into each prompt's candidate pool, in the shape the method trains on.
 * Streamed and packed so a million samples fit in a few hundred MB: the feedback is read once into
 * compact records (text keys, no texts), the prompts shard by shard, and only the pools feedback
 * names are kept, as packed features.
 */
export async function loadTrainingData(method: BuiltinTrainerConfig['method'], promptShards: string[], feedbackFile: string, dims: number) {
  const examples: Compact[] = [];
  const needed = new Set<string>();
  await forEachJsonLine(feedbackFile, (raw) => {
    const e = raw as NativeExample;
    const pairwise = e.type === 'pairwise_feedback';
    examples.push({
      pid: e.prompt_id,
      a: textKey(joined(pairwise ? e.output_A : e.output)),
      b: pairwise ? textKey(joined(e.output_B)) : 0,
      label: e.label ?? 0,
      reward: e.reward ?? 0,
      pairwise,
    });
    needed.add(e.prompt_id);
  });
  const store = new FeatureStore(dims);
  const pools = new Map<string, { pool: Pool; index: Map<number, number> }>();
  for (const file of promptShards)
    await forEachJsonLine(file, (raw) => {
      const p = raw as PromptRecord;
      if (!p.candidates || !needed.has(p.prompt_id)) return;
      const first = store.candidates;
      const index = new Map<number, number>();
      p.candidates.forEach((t, i) => {
        store.add(t);
        const k = textKey(t);
        if (!index.has(k)) index.set(k, i);
      });
      pools.set(p.prompt_id, { pool: store.pool(first, p.candidates.length), index });
    });
  const poolOf = (pid: string) => {
    const p = pools.get(pid);
    if (!p) throw new Error(`feedback names prompt ${pid}, which is not in this iteration's prompts`);
    return p;
  };
  const indexOf = (pid: string, key: number) => {
    const i = poolOf(pid).index.get(key);
    if (i === undefined) throw new Error(`a feedback output for ${pid} is not one of its candidates`);
    return i;
  };
  if (method === 'dpo') {
    return examples.map((e): PairTrainExample => {
      const a = indexOf(e.pid, e.a),
        b = indexOf(e.pid, e.b);
      return { pool: poolOf(e.pid).pool, chosen: e.label === 1 ? a : b, rejected: e.label === 1 ? b : a };
    });
  }
  if (method === 'kto') {
    return examples.flatMap((e): BinaryTrainExample[] => {
      if (e.pairwise) {
        const a = indexOf(e.pid, e.a),
          b = indexOf(e.pid, e.b);
        const [w, l] = e.label === 1 ? [a, b] : [b, a];
        return [
          { pool: poolOf(e.pid).pool, index: w, desirable: true },
          { pool: poolOf(e.pid).pool, index: l, desirable: false },
        ];
      }
      return [{ pool: poolOf(e.pid).pool, index: indexOf(e.pid, e.a), desirable: e.label === 1 }];
    });
  }
  const groups = new Map<string, GroupTrainExample>();
  for (const e of examples) {
    let g = groups.get(e.pid);
    if (!g) groups.set(e.pid, (g = { pool: poolOf(e.pid).pool, indices: [], rewards: [] }));
    g.indices.push(indexOf(e.pid, e.a));
    g.rewards.push(e.reward);
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

async function train(job: TrainJob<BuiltinTrainerConfig>): Promise<TrainOutcome> {
  const { settings: t, iteration } = job;
  const policy = loadBuiltinCheckpoint(job.policy, 'policy checkpoint');
  const reference = loadBuiltinCheckpoint(job.reference, 'reference checkpoint');
  if (!job.feedback) {
    const next: PolicyCheckpoint = { ...policy, parent: job.policy.sha256, iteration, method: t.method };
    return {
      written: writeFileAtomic(job.checkpointFile, JSON.stringify(next) + '\n'),
      extra: { trained: false, examples: 0, firstLoss: null, lastLoss: null, resumedFromEpoch: 0, skippedReason: job.emptyReason ?? 'no feedback' },
    };
  }
  verifyRef(job.feedback, 'feedback file');
  const data = await loadTrainingData(
    t.method,
    job.prompts.map((r) => r.path),
    job.feedback.path,
    policy.dims,
  );
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
    temperature: typeof job.campaign.sampler.temperature === 'number' ? job.campaign.sampler.temperature : 1,
    desirableWeight: t.desirableWeight,
    undesirableWeight: t.undesirableWeight,
    pulse: () => beat({ epochs: t.epochs, note: 'training' }),
  };
  const rate = new StepRate();
  const onEpoch = async (r: { epoch: number; loss: number }, theta: Float64Array) => {
    rate.observe(Date.now(), r.epoch);
    beat({ epoch: r.epoch, epochs: t.epochs, loss: r.loss, rate: rate.perSecond() });
    if (r.epoch % 5 === 0 || r.epoch === t.epochs) writeJsonAtomic(progressFile, { key, epoch: r.epoch, theta: Array.from(theta) });
    await testSlowdown();
  };
  rate.observe(Date.now(), start.epoch);
  beat({ epoch: start.epoch, epochs: t.epochs });
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

export const builtinTrainer: Trainer<BuiltinTrainerConfig> = {
  checkpointName: 'checkpoint.json',
  writeInitialPolicy: (t, _campaign, file) => writeFileAtomic(file, JSON.stringify(initialCheckpoint(t.dims)) + '\n'),
  train,
};
