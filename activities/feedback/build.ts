/**
 * Feedback building (docs/feedback-format.md sections 2, 3 and 6): scored samples -> pairwise, binary
 * or scalar examples, with the statistics every conversion reports. Pure and deterministic:
 * the same input order, seed, mode and threshold give the same examples.
 */
import { Rng, seededRng, shuffleInPlace } from './rng';
import type { ScoredSample, Turn } from './scored-samples';
import { FeedbackOptionsError } from '../../config/errors';

export type FeedbackType = 'pairwise' | 'binary' | 'scalar';
export type PairMode = 'random' | 'max' | 'min';
export type ThresholdRule = number | 'mean' | 'median';

export interface FeedbackOptions {
  type: FeedbackType;
  /** pairwise only; default max. */
  mode?: PairMode;
  /** pairwise: a number >= 0 (default 0). binary: mean (default), median or a number. */
  threshold?: ThresholdRule;
  /** binary only: compute mean/median over the whole batch (default) or per prompt. */
  thresholdScope?: 'global' | 'prompt';
  seed?: number;
  /** pairwise, composite labeler: drop a pair unless at least this share of the members that ordered it agree with its order. */
  disagreement?: DisagreementRule;
}

export interface DisagreementRule {
  minAgreement: number;
  /** The members whose order counts (those that make the combined reward). */
  members: string[];
}

export interface PairExample {
  kind: 'pair';
  prompt_id: string;
  prompt: Turn[];
  a: ScoredSample;
  b: ScoredSample;
  label: 0 | 1;
  swapped: boolean;
  /** null for pairs decided by a judge rather than by reward gap. */
  threshold: number | null;
  /** Extra fields for the native JSONL (e.g. the judge's presentation order and verdicts). */
  audit?: Record<string, unknown>;
}

export interface SingleExample {
  kind: 'binary' | 'scalar';
  sample: ScoredSample & { reward: number };
  label: 0 | 1 | null;
  threshold: number | null;
}

export type FeedbackExample = PairExample | SingleExample;

export interface RewardSummary {
  mean: number;
  std: number;
  min: number;
  max: number;
}

export interface FeedbackStats {
  type: FeedbackType;
  /** 'judge': pairs decided by a pairwise LLM judge (judged-pairs.ts). */
  mode: PairMode | 'judge' | null;
  threshold_rule: string;
  /** The threshold actually used (global binary / pairwise); null when per prompt or scalar. */
  threshold: number | null;
  seed: number;
  prompts_in: number;
  samples_in: number;
  labelled: number;
  unlabelled: Record<string, number>;
  non_finite: number;
  prompts_skipped_too_few_labelled: number;
  prompts_dropped_by_threshold: number;
  pairs_dropped_by_threshold: number;
  samples_unpaired_odd: number;
  prompts_out: number;
  examples_out: number;
  label_balance: { desirable_or_a: number; undesirable_or_b: number };
  swapped: number;
  reward: RewardSummary | null;
  mean_margin: number | null;
  notes: string[];
  /** Set when examples_out is 0: a plain sentence saying why. */
  empty_reason: string | null;
  /** Composite labeler with a disagreement rule only: pairs not trained on, by the members that ordered them the other way. */
  pairs_dropped_by_disagreement?: Record<string, number>;
  /** Pairwise judge only: pairs judged, decided, tied, and inconsistent across orders. */
  judge_pairs?: { pairs: number; decided: number; ties: number; inconsistent: number };
}

export function summarize(values: number[]): RewardSummary | null {
  if (values.length === 0) return null;
  let sum = 0,
    min = Infinity,
    max = -Infinity;
  for (const v of values) {
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = sum / values.length;
  let sq = 0;
  for (const v of values) sq += (v - mean) * (v - mean);
  return { mean, std: Math.sqrt(sq / values.length), min, max };
}

export function median(values: number[]): number {
  const s = Float64Array.from(values).sort();
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function resolveThreshold(rule: ThresholdRule, values: number[]): number {
  if (typeof rule === 'number') return rule;
  return rule === 'mean' ? summarize(values)!.mean : median(values);
}

const GAP_TOLERANCE = 1e-12;
type Labelled = ScoredSample & { reward: number };

function formPair(x: Labelled, y: Labelled, rng: Rng, threshold: number): PairExample {
  const swapped = rng.next() < 0.5;
  const [a, b] = swapped ? [y, x] : [x, y];
  return { kind: 'pair', prompt_id: a.prompt_id, prompt: a.prompt, a, b, label: a.reward > b.reward ? 1 : 0, swapped, threshold };
}

/**
 * Why a pair is not trained on under the disagreement rule (the members that order it the other way), or
 * null: kept. Members that tie, or did not score both samples, have no say; a pair no member ordered is kept.
 */
export function disagreementOf(x: Labelled, y: Labelled, rule: DisagreementRule): string | null {
  const [hi, lo] = x.reward > y.reward ? [x, y] : [y, x];
  const against: string[] = [];
  let agree = 0;
  for (const m of rule.members) {
    const a = hi.members?.[m];
    const b = lo.members?.[m];
    if (a === null || a === undefined || b === null || b === undefined || a === b) continue;
    if (a > b) agree++;
    else against.push(m);
  }
  const voted = agree + against.length;
  if (voted === 0 || agree / voted >= rule.minAgreement) return null;
  return `${against.join('+')} reversed`;
}

/** Candidate pairs of one prompt's labelled samples, before the swap. Ties never pair. */
function candidatePairs(group: Labelled[], mode: PairMode, t: number, rng: Rng): { pairs: [Labelled, Labelled][]; dropped: number; odd: number } {
  if (mode === 'random') {
    const order = shuffleInPlace(group.slice(), rng);
    const pairs: [Labelled, Labelled][] = [];
    let dropped = 0;
    for (let i = 0; i + 1 < order.length; i += 2) {
      if (Math.abs(order[i].reward - order[i + 1].reward) > t) pairs.push([order[i], order[i + 1]]);
      else dropped++;
    }
    return { pairs, dropped, odd: order.length % 2 };
  }
  if (mode === 'max') {
    // Stable sort by reward descending: the first of equal rewards stays first.
    const sorted = group.map((s, i) => ({ s, i })).sort((p, q) => q.s.reward - p.s.reward || p.i - q.i);
    const best = sorted[0].s,
      worst = sorted[sorted.length - 1].s;
    return best.reward - worst.reward > t ? { pairs: [[best, worst]], dropped: 0, odd: 0 } : { pairs: [], dropped: 1, odd: 0 };
  }
  // min: the smallest admissible gap d (d >= t within tolerance, d > 0), every pair at that gap.
  let lo = Infinity,
    hi = -Infinity;
  for (const s of group) {
    if (s.reward < lo) lo = s.reward;
    if (s.reward > hi) hi = s.reward;
  }
  if (hi - lo <= t) return { pairs: [], dropped: 1, odd: 0 };
  let d = Infinity;
  for (let i = 0; i < group.length; i++) {
    for (let j = i + 1; j < group.length; j++) {
      const gap = Math.abs(group[i].reward - group[j].reward);
      if (gap > 0 && gap >= t - GAP_TOLERANCE && gap < d) d = gap;
    }
  }
  const pairs: [Labelled, Labelled][] = [];
  for (let i = 0; i < group.length; i++) {
    for (let j = i + 1; j < group.length; j++) {
      const gap = Math.abs(group[i].reward - group[j].reward);
      if (gap > 0 && gap >= t - GAP_TOLERANCE && Math.abs(gap - d) <= GAP_TOLERANCE) pairs.push([group[i], group[j]]);
    }
  }
  return { pairs, dropped: 0, odd: 0 };
}

export function validateOptions(opts: FeedbackOptions): void {
  if (opts.type === 'pairwise') {
    if (opts.threshold !== undefined && (typeof opts.threshold !== 'number' || !Number.isFinite(opts.threshold) || opts.threshold < 0)) {
      throw new FeedbackOptionsError(
        `pairwise feedback needs a numeric threshold >= 0 (the minimum reward gap of a pair), got ${JSON.stringify(opts.threshold)}; e.g. --threshold 0.01`,
      );
    }
    if (opts.mode !== undefined && !['random', 'max', 'min'].includes(opts.mode)) {
      throw new FeedbackOptionsError(`unknown pairing mode ${JSON.stringify(opts.mode)}; use random, max or min`);
    }
    if (opts.thresholdScope === 'prompt') throw new FeedbackOptionsError('a per-prompt threshold applies to binary feedback only');
  } else if (opts.type === 'binary') {
    const t = opts.threshold;
    if (t !== undefined && t !== 'mean' && t !== 'median' && !(typeof t === 'number' && Number.isFinite(t))) {
      throw new FeedbackOptionsError(`binary feedback threshold must be mean, median or a finite number, got ${JSON.stringify(t)}`);
    }
    if (opts.mode !== undefined) throw new FeedbackOptionsError('--mode applies to pairwise feedback only');
  } else if (opts.type === 'scalar') {
    if (opts.threshold !== undefined || opts.mode !== undefined) throw new FeedbackOptionsError('scalar feedback takes no threshold or mode');
  } else {
    throw new FeedbackOptionsError(`unknown feedback type ${JSON.stringify((opts as { type: unknown }).type)}; use pairwise, binary or scalar`);
  }
  if (opts.seed !== undefined && !Number.isSafeInteger(opts.seed)) throw new FeedbackOptionsError(`seed must be an integer, got ${opts.seed}`);
}

/** Statistics with every count at zero, filled in as a conversion goes. */
export function zeroStats(type: FeedbackStats['type'], mode: FeedbackStats['mode'], seed: number, promptsIn = 0): FeedbackStats {
  return {
    type,
    mode,
    threshold_rule: '',
    threshold: null,
    seed,
    prompts_in: promptsIn,
    samples_in: 0,
    labelled: 0,
    unlabelled: {},
    non_finite: 0,
    prompts_skipped_too_few_labelled: 0,
    prompts_dropped_by_threshold: 0,
    pairs_dropped_by_threshold: 0,
    samples_unpaired_odd: 0,
    prompts_out: 0,
    examples_out: 0,
    label_balance: { desirable_or_a: 0, undesirable_or_b: 0 },
    swapped: 0,
    reward: null,
    mean_margin: null,
    notes: [],
    empty_reason: null,
  };
}

/** Groups: prompt_id -> samples, in first-seen order (as ScoredSampleCollector builds them). */
const isLabelled = (s: ScoredSample): s is Labelled => s.reward !== null && Number.isFinite(s.reward) && s.label_status === 'ok';

/** Every labelled reward of some groups, in order: what a FeedbackBuilder needs up front. */
export function labelledRewards(groups: Iterable<ScoredSample[]>, into: number[] = []): number[] {
  for (const g of groups) for (const s of g) if (isLabelled(s)) into.push(s.reward);
  return into;
}

/**
 * Feedback built one prompt group at a time, so an iteration can be converted shard by shard: the
 * batch-wide figures (the global threshold, the reward summary) come from `allRewards` (every
 * labelled reward, from a first pass), and groups must come in the same order as in one batch.
 * buildFeedback is this over a map of groups; the output is identical.
 */
export class FeedbackBuilder {
  readonly stats: FeedbackStats;
  private readonly rng: Rng;
  private readonly mode: PairMode | null;
  private readonly rule: ThresholdRule | undefined;
  private readonly perPrompt: boolean;
  private readonly globalTau: number | null = null;
  private readonly t: number = 0;
  private marginSum = 0;
  private count = 0;

  constructor(
    private readonly opts: FeedbackOptions,
    allRewards: number[],
  ) {
    validateOptions(opts);
    const seed = opts.seed ?? 0;
    this.rng = seededRng(seed);
    this.mode = opts.type === 'pairwise' ? (opts.mode ?? 'max') : null;
    this.stats = zeroStats(opts.type, this.mode, seed, 0);
    this.stats.labelled = allRewards.length;
    this.stats.reward = summarize(allRewards);
    this.rule = opts.threshold;
    this.perPrompt = false;
    if (opts.disagreement) this.stats.pairs_dropped_by_disagreement = {};
    if (opts.type === 'scalar') this.stats.threshold_rule = 'none';
    else if (opts.type === 'binary') {
      const rule = opts.threshold ?? 'mean';
      this.rule = rule;
      this.perPrompt = opts.thresholdScope === 'prompt' && typeof rule !== 'number';
      this.stats.threshold_rule = this.perPrompt ? `${rule} per prompt` : String(typeof rule === 'number' ? 'number' : rule);
      this.globalTau = !this.perPrompt && allRewards.length > 0 ? resolveThreshold(rule, allRewards) : null;
      this.stats.threshold = this.globalTau;
    } else {
      if (opts.threshold === undefined) this.stats.notes.push('no threshold given: pairwise uses 0 (any strictly better sample wins)');
      this.t = (opts.threshold as number | undefined) ?? 0;
      this.stats.threshold = this.t;
      this.stats.threshold_rule = opts.threshold === undefined ? 'default 0' : 'number';
    }
  }

  /** The examples of one prompt's samples. */
  addGroup(group: ScoredSample[]): FeedbackExample[] {
    const stats = this.stats;
    stats.prompts_in++;
    const lab: Labelled[] = [];
    for (const s of group) {
      stats.samples_in++;
      if (isLabelled(s)) lab.push(s);
      else if (s.label_status === 'non_finite' || (s.reward !== null && !Number.isFinite(s.reward))) stats.non_finite++;
      else stats.unlabelled[s.label_status] = (stats.unlabelled[s.label_status] ?? 0) + 1;
    }
    const out: FeedbackExample[] = [];
    if (this.opts.type === 'scalar') {
      if (lab.length > 0) stats.prompts_out++;
      for (const s of lab) out.push({ kind: 'scalar', sample: s, label: null, threshold: null });
    } else if (this.opts.type === 'binary') {
      if (lab.length === 0) return out;
      const tau = this.perPrompt
        ? resolveThreshold(
            this.rule as ThresholdRule,
            lab.map((s) => s.reward),
          )
        : (this.globalTau as number);
      stats.prompts_out++;
      for (const s of lab) {
        const label = s.reward >= tau ? 1 : 0;
        if (label === 1) stats.label_balance.desirable_or_a++;
        else stats.label_balance.undesirable_or_b++;
        out.push({ kind: 'binary', sample: s, label, threshold: tau });
      }
    } else {
      if (lab.length < 2) {
        stats.prompts_skipped_too_few_labelled++;
        return out;
      }
      const candidates = candidatePairs(lab, this.mode as PairMode, this.t, this.rng);
      stats.pairs_dropped_by_threshold += candidates.dropped;
      stats.samples_unpaired_odd += candidates.odd;
      if (candidates.pairs.length === 0) {
        stats.prompts_dropped_by_threshold++;
        return out;
      }
      const rule = this.opts.disagreement;
      for (const [x, y] of candidates.pairs) {
        // Formed (and the swap drawn) before the rule looks at it: the kept pairs are exactly those without the rule, less the dropped.
        const p = formPair(x, y, this.rng, this.t);
        const why = rule ? disagreementOf(x, y, rule) : null;
        if (why) {
          stats.pairs_dropped_by_disagreement![why] = (stats.pairs_dropped_by_disagreement![why] ?? 0) + 1;
          continue;
        }
        if (p.swapped) stats.swapped++;
        if (p.label === 1) stats.label_balance.desirable_or_a++;
        else stats.label_balance.undesirable_or_b++;
        this.marginSum += Math.abs(p.a.reward! - p.b.reward!);
        out.push(p);
      }
      if (out.length > 0) stats.prompts_out++;
    }
    this.count += out.length;
    return out;
  }

  finish(): FeedbackStats {
    const stats = this.stats;
    if (this.opts.type === 'pairwise') stats.mean_margin = this.count > 0 ? this.marginSum / this.count : null;
    stats.examples_out = this.count;
    if (this.count === 0) stats.empty_reason = explainEmpty(stats);
    return stats;
  }
}

export function buildFeedback(groups: Map<string, ScoredSample[]>, opts: FeedbackOptions): { examples: FeedbackExample[]; stats: FeedbackStats } {
  validateOptions(opts);
  const b = new FeedbackBuilder(opts, labelledRewards(groups.values()));
  const examples: FeedbackExample[] = [];
  for (const g of groups.values()) for (const e of b.addGroup(g)) examples.push(e);
  return { examples, stats: b.finish() };
}

function explainEmpty(s: FeedbackStats): string {
  const unl = s.samples_in - s.labelled;
  if (s.samples_in === 0) return `0 ${s.type === 'pairwise' ? 'pairs' : 'examples'}: no samples to label (the sample stage kept none)`;
  if (s.labelled === 0)
    return `0 ${s.type === 'pairwise' ? 'pairs' : 'examples'}: none of the ${s.samples_in} samples is labelled (${unl} unlabelled or non-finite)`;
  if (s.type !== 'pairwise') return `0 examples from ${s.samples_in} samples`;
  const parts: string[] = [];
  if (s.prompts_dropped_by_threshold > 0) {
    parts.push(
      s.prompts_skipped_too_few_labelled === 0
        ? `all ${s.prompts_dropped_by_threshold} prompts tied within threshold ${s.threshold}`
        : `${s.prompts_dropped_by_threshold} prompts tied within threshold ${s.threshold}`,
    );
  }
  if (s.prompts_skipped_too_few_labelled > 0) parts.push(`${s.prompts_skipped_too_few_labelled} prompts have fewer than 2 labelled samples`);
  const disagreed = Object.values(s.pairs_dropped_by_disagreement ?? {}).reduce((a, b) => a + b, 0);
  if (disagreed > 0) parts.push(`${disagreed} pairs the composite's members ordered differently (labeler.disagreement)`);
  return `0 pairs: ${parts.join('; ')}`;
}
