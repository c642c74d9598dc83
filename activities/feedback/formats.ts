/**
 * Output shapes (docs/feedback-format.md section 4). Key order is part of the contract: the object
 * literals below are written in the order the spec shows.
 */
import type { FeedbackExample, PairExample, SingleExample } from './build';

export type FeedbackFormat = 'halos' | 'trl' | 'jsonl';
export const FEEDBACK_FORMATS: FeedbackFormat[] = ['halos', 'trl', 'jsonl'];

function halosRecord(ex: FeedbackExample): Record<string, unknown> {
  if (ex.kind === 'pair') {
    const rec: Record<string, unknown> = { prompt_id: ex.prompt_id, prompt: ex.prompt, output_A: ex.a.output, output_B: ex.b.output, label: ex.label };
    // A judge that gives only a verdict gives no rewards: leave them out rather than invent them.
    if (ex.a.reward !== null && ex.b.reward !== null)
      Object.assign(rec, { reward_A: ex.a.reward, reward_B: ex.b.reward, reward_difference: Math.abs(ex.a.reward - ex.b.reward) });
    rec.type = 'pairwise_feedback';
    return rec;
  }
  const s = ex.sample;
  if (ex.kind === 'binary') {
    return { prompt_id: s.prompt_id, prompt: s.prompt, output: s.output, label: ex.label, reward: s.reward, type: 'binary_feedback' };
  }
  return { prompt_id: s.prompt_id, prompt: s.prompt, output: s.output, reward: s.reward, type: 'scalar_feedback' };
}

function nativeRecord(ex: FeedbackExample): Record<string, unknown> {
  const rec = halosRecord(ex);
  if (ex.kind === 'pair') {
    rec.iteration = ex.a.iteration ?? null;
    rec.sample_ids = [ex.a.sample_id, ex.b.sample_id];
    rec.swapped = ex.swapped;
    if (ex.audit) Object.assign(rec, ex.audit);
  } else {
    rec.iteration = ex.sample.iteration ?? null;
    rec.sample_ids = [ex.sample.sample_id];
  }
  rec.threshold = ex.threshold;
  return rec;
}

function trlRecord(ex: FeedbackExample): Record<string, unknown> {
  if (ex.kind === 'pair') {
    const [chosen, rejected] = chosenRejected(ex);
    const rec: Record<string, unknown> = { prompt: ex.prompt, chosen: chosen.output, rejected: rejected.output };
    if (chosen.reward !== null && rejected.reward !== null) Object.assign(rec, { score_chosen: chosen.reward, score_rejected: rejected.reward });
    return rec;
  }
  const s = (ex as SingleExample).sample;
  if (ex.kind === 'binary') return { prompt: s.prompt, completion: s.output, label: ex.label === 1 };
  return { prompt: s.prompt, completion: s.output, reward: s.reward };
}

export function chosenRejected(p: PairExample): [PairExample['a'], PairExample['b']] {
  return p.label === 1 ? [p.a, p.b] : [p.b, p.a];
}

// The prompt array is shared by every sample of a prompt: serialize it once.
const promptJson = new WeakMap<object, string>();
export function formatExample(ex: FeedbackExample, format: FeedbackFormat): string {
  const rec = format === 'halos' ? halosRecord(ex) : format === 'trl' ? trlRecord(ex) : nativeRecord(ex);
  const prompt = rec.prompt as object;
  if (!promptJson.has(prompt)) promptJson.set(prompt, JSON.stringify(prompt));
  rec.prompt = PLACEHOLDER;
  return JSON.stringify(rec).replace(PLACEHOLDER_JSON, () => promptJson.get(prompt)!);
}
const PLACEHOLDER = '\u0000alignloop-prompt\u0000';
const PLACEHOLDER_JSON = JSON.stringify(PLACEHOLDER);

/** The text of a whole file, in pieces: HALOs is one JSON array, the others JSONL. */
export function* formatFile(examples: Iterable<FeedbackExample>, format: FeedbackFormat): Generator<string> {
  if (format === 'halos') {
    let first = true;
    yield '[';
    for (const ex of examples) {
      yield (first ? '\n' : ',\n') + formatExample(ex, format);
      first = false;
    }
    yield first ? ']\n' : '\n]\n';
  } else {
    for (const ex of examples) yield formatExample(ex, format) + '\n';
  }
}
