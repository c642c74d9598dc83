/**
 * Which edits of a running campaign's file can apply between iterations (pure: the campaign
 * workflow's Update validator uses it). Endpoints, commands, limits, thresholds, budgets and the
 * number of iterations may change; what would make the campaign's data mean something else (its
 * prompts, its feedback type, its trainer's method or reference, a kind, where artifacts live)
 * may not.
 */

export interface ConfigChange {
  /** A dotted setting, e.g. `sampler.baseURL`. */
  path: string;
  from: unknown;
  to: unknown;
}

export interface RefusedChange extends ConfigChange {
  reason: string;
}

/** Settings (and everything under them) that never change mid-campaign, and why. */
const FIXED: [string, string][] = [
  ['name', 'it names the campaign'],
  ['prompts', 'the prompt slices of finished iterations depend on it: start a new campaign'],
  ['policy', 'the campaign started from it'],
  ['artifacts', 'every recorded artifact lives under it'],
  ['feedback.type', 'finished iterations trained on the old type'],
  ['sampler.kind', 'a sampler kind change is a new campaign'],
  ['labeler.kind', 'rewards of finished iterations would not compare'],
  ['labeler.mode', 'pointwise and pairwise judges produce different feedback'],
  ['labeler.model', 'rewards of finished iterations would not compare (a changed model folder in place is labeler.allowModelChange)'],
  ['trainer.kind', 'a trainer kind change is a new campaign'],
  ['trainer.method', 'the method cannot change mid-campaign'],
  ['trainer.reference', 'the reference model cannot change mid-campaign'],
  ['trainer.preset', "the checkpoints in flight are the preset's layout"],
  ['trainer.dims', "the built-in policy's checkpoints have these dimensions"],
  ['eval.prompts', 'evaluations of finished iterations would not compare'],
  ['eval.labeler', 'evaluations of finished iterations would not compare'],
  ['eval.judge.kind', 'evaluations of finished iterations would not compare'],
  ['eval.judge.model', 'evaluations of finished iterations would not compare'],
  ['eval.judge.template', 'evaluations of finished iterations would not compare'],
  ['eval.samplesPerPrompt', 'evaluations of finished iterations would not compare'],
  ['eval.seed', 'evaluations of finished iterations would not compare'],
  ['eval.greedy', 'evaluations of finished iterations would not compare'],
  ['eval.bestBy', 'the best checkpoint so far was picked by it'],
  ['eval.baseline', 'the best checkpoint so far was picked against it'],
];

/** Settings inside lists of blocks (a composite labeler's members), by pattern. */
const FIXED_PATTERNS: [RegExp, string][] = [
  [/^labeler\.members\.\d+\.(name|gate)$/, "a member's name and gate decide where its results are and which samples the others are asked about"],
  [/^labeler\.members\.\d+\.labeler\.(kind|model|mode)$/, 'rewards of finished iterations would not compare'],
];

const isBlock = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);

function flatten(v: unknown, prefix: string, out: Map<string, unknown>): void {
  // A list of blocks (not of words, as argv lists are) is compared element by element.
  if (Array.isArray(v) && v.length > 0 && v.every(isBlock)) v.forEach((x, i) => flatten(x, `${prefix}.${i}`, out));
  else if (isBlock(v)) {
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length === 0 && prefix) out.set(prefix, v);
    for (const [k, x] of entries) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else out.set(prefix, v);
}

const fixedReason = (p: string): string | null => {
  for (const [f, why] of FIXED) if (p === f || p.startsWith(`${f}.`)) return why;
  for (const [re, why] of FIXED_PATTERNS) if (re.test(p)) return why;
  return null;
};

/** Every setting that differs between the recorded config and the new one, split into what applies and what is refused. */
export function configChanges(current: object, next: object, progress: { completed: number }): { applied: ConfigChange[]; refused: RefusedChange[] } {
  const a = new Map<string, unknown>();
  const b = new Map<string, unknown>();
  flatten(current, '', a);
  flatten(next, '', b);
  const applied: ConfigChange[] = [];
  const refused: RefusedChange[] = [];
  for (const p of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const from = a.get(p);
    const to = b.get(p);
    if (JSON.stringify(from) === JSON.stringify(to)) continue;
    const change = { path: p, from: from ?? null, to: to ?? null };
    const why = fixedReason(p);
    if (why) refused.push({ ...change, reason: why });
    else if (p === 'iterations' && typeof to === 'number' && to < progress.completed)
      refused.push({ ...change, reason: `${progress.completed} iterations are already done` });
    else applied.push(change);
  }
  return { applied, refused };
}

export const describeChange = (c: ConfigChange): string => `${c.path}: ${JSON.stringify(c.from)} -> ${JSON.stringify(c.to)}`;
