/**
 * The built-in miniature policy: pi(y|x) ∝ exp(theta · phi(y) / T) over a per-prompt pool of
 * candidate responses, with phi = hashed unigram + bigram features. A stand-in for vLLM and a
 * real model, small enough that a whole campaign runs on a laptop in a minute, but trained with
 * the real DPO / KTO / GRPO objectives (builtin-trainer.ts), so learning is real.
 */
import { Rng } from '../feedback/rng';

export const CHECKPOINT_FORMAT = 'alignloop-builtin-policy/1';

export interface PolicyCheckpoint {
  format: typeof CHECKPOINT_FORMAT;
  dims: number;
  theta: number[];
  /** sha256 of the checkpoint this one was trained from; null for the initial policy. */
  parent: string | null;
  iteration: number | null;
  method: string | null;
}

export type SparseFeatures = { idx: Int32Array; val: Float64Array };

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Signed counts of the text's hashed unigrams and bigrams by bucket (in first-seen order), and the norm that scales them. */
export function gramCounts(text: string, dims: number): { counts: Map<number, number>; norm: number } {
  const words = text.toLowerCase().match(/[a-z0-9']+|[^\sa-z0-9']/g) ?? [];
  const grams = [...words, ...words.slice(1).map((w, i) => `${words[i]} ${w}`)];
  const counts = new Map<number, number>();
  for (const g of grams) {
    const h = fnv1a(g);
    const i = h % dims;
    const sign = h & 0x80000000 ? -1 : 1; // signed hashing keeps collisions unbiased
    counts.set(i, (counts.get(i) ?? 0) + sign);
  }
  return { counts, norm: 1 / Math.sqrt(Math.max(1, grams.length)) };
}

export function features(text: string, dims: number): SparseFeatures {
  const { counts, norm } = gramCounts(text, dims);
  const idx = Int32Array.from(counts.keys());
  const val = Float64Array.from(counts.values(), (v) => v * norm);
  return { idx, val };
}

export function dot(theta: ArrayLike<number>, f: SparseFeatures): number {
  let s = 0;
  for (let k = 0; k < f.idx.length; k++) s += theta[f.idx[k]] * f.val[k];
  return s;
}

/** log pi(y|x) for every candidate of one pool. */
export function logProbs(theta: ArrayLike<number>, pool: SparseFeatures[], temperature: number): Float64Array {
  return logSoftmax(Float64Array.from(pool, (f) => dot(theta, f) / temperature));
}

/** z - logsumexp(z), in the order every caller (sampler and trainer) relies on for identical floats. */
export function logSoftmax(z: Float64Array): Float64Array {
  let m = -Infinity;
  for (const v of z) m = Math.max(m, v);
  let s = 0;
  for (const v of z) s += Math.exp(v - m);
  const lse = m + Math.log(s);
  return z.map((v) => v - lse);
}

/** Draw k candidate indices with replacement, as a sampler at temperature T would. */
export function sampleIndices(logp: Float64Array, k: number, rng: Rng): number[] {
  const out: number[] = [];
  for (let n = 0; n < k; n++) {
    let u = rng.next();
    let i = 0;
    for (; i < logp.length - 1; i++) {
      u -= Math.exp(logp[i]);
      if (u < 0) break;
    }
    out.push(i);
  }
  return out;
}

export function initialCheckpoint(dims: number): PolicyCheckpoint {
  return { format: CHECKPOINT_FORMAT, dims, theta: new Array(dims).fill(0), parent: null, iteration: null, method: null };
}

export function parseCheckpoint(text: string, where: string): PolicyCheckpoint {
  const c = JSON.parse(text) as PolicyCheckpoint;
  if (c.format !== CHECKPOINT_FORMAT || !Array.isArray(c.theta) || c.theta.length !== c.dims) {
    throw new Error(`${where}: not a ${CHECKPOINT_FORMAT} checkpoint`);
  }
  return c;
}
