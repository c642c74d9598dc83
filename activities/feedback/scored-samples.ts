/**
 * Scored samples (docs/feedback-format.md section 1): parsing and validation of one record, with
 * errors that name the file and line. Pure: no I/O here (see files.ts).
 */
import { InputError } from '../../config/errors';
import { isNonFiniteSentinel, parseJsonAllowingNonFinite } from '../artifacts/lenient-json';

export interface Turn {
  role: string;
  content: string;
}

export interface ScoredSample {
  prompt_id: string;
  sample_id: number;
  prompt: Turn[];
  output: Turn[];
  /** Finite number when labelled; null when unlabelled (see label_status). */
  reward: number | null;
  /** "ok" or the reason the sample carries no reward. */
  label_status: string;
  iteration?: number;
  generator?: string;
  dataset?: string;
  /** A composite labeler's members' raw scores (null: not asked, or failed), for its disagreement rule. */
  members?: Record<string, number | null>;
  /** 1-based line (JSONL) or record index (JSON array) in the input, for error messages. */
  line: number;
}

function isTurn(v: unknown): v is Turn {
  return typeof v === 'object' && v !== null && typeof (v as Turn).role === 'string' && typeof (v as Turn).content === 'string';
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}` : typeof v;
}

/** Validate one parsed record; `fallbackSampleId` is used when sample_id is absent. */
export function validateRecord(raw: unknown, file: string, line: number, fallbackSampleId: number): ScoredSample {
  const err = (problem: string, fix?: string) => new InputError(file, line, problem, fix);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw err(`expected a JSON object, got ${describe(raw)}`, 'each line must be one scored-sample object');
  }
  const r = raw as Record<string, unknown>;
  if (typeof r.prompt_id !== 'string' || r.prompt_id.length === 0) {
    throw err(
      r.prompt_id === undefined ? 'missing prompt_id' : `prompt_id must be a non-empty string, got ${describe(r.prompt_id)}`,
      'give every record the stable id of its prompt',
    );
  }
  if (r.prompt === undefined) throw err('missing prompt', 'prompt is the conversation: [{"role": "user", "content": "…"}]');
  if (!Array.isArray(r.prompt) || r.prompt.length === 0 || !r.prompt.every(isTurn)) {
    throw err(`prompt must be a non-empty list of {role, content} turns, got ${describe(r.prompt)}`);
  }
  let output: Turn[];
  if (r.output === undefined) throw err('missing output', 'output is the completion: a string or [{"role": "assistant", "content": "…"}]');
  if (typeof r.output === 'string') output = [{ role: 'assistant', content: r.output }];
  else if (Array.isArray(r.output) && r.output.length > 0 && r.output.every(isTurn)) output = r.output as Turn[];
  else throw err(`output must be a string or a list of {role, content} turns, got ${describe(r.output)}`);

  let sampleId = fallbackSampleId;
  if (r.sample_id !== undefined) {
    if (typeof r.sample_id !== 'number' || !Number.isInteger(r.sample_id) || r.sample_id < 0) {
      throw err(`sample_id must be a non-negative integer, got ${describe(r.sample_id)}`);
    }
    sampleId = r.sample_id;
  }

  let reward: number | null;
  let status: string;
  if (r.label_status !== undefined && typeof r.label_status !== 'string') {
    throw err(`label_status must be "ok" or a failure reason string, got ${describe(r.label_status)}`);
  }
  if (r.reward === undefined) {
    throw err('missing reward', 'use "reward": null with a label_status reason for unlabelled samples');
  } else if (r.reward === null) {
    reward = null;
    status = r.label_status && r.label_status !== 'ok' ? r.label_status : 'unlabelled';
  } else if (isNonFiniteSentinel(r.reward)) {
    reward = null;
    status = 'non_finite';
  } else if (typeof r.reward === 'number') {
    if (r.label_status !== undefined && r.label_status !== 'ok') {
      // A failure is never turned into a number: the reason wins over the value.
      reward = null;
      status = r.label_status as string;
    } else {
      reward = r.reward;
      status = 'ok';
    }
  } else {
    throw err(`reward must be a number or null, got ${describe(r.reward)}`);
  }

  const rec: ScoredSample = { prompt_id: r.prompt_id, sample_id: sampleId, prompt: r.prompt as Turn[], output, reward, label_status: status, line };
  if (typeof r.iteration === 'number') rec.iteration = r.iteration;
  if (typeof r.generator === 'string') rec.generator = r.generator;
  if (typeof r.dataset === 'string') rec.dataset = r.dataset;
  const members = (r.composite as { members?: Record<string, { raw?: unknown }> } | undefined)?.members;
  if (members && typeof members === 'object')
    rec.members = Object.fromEntries(Object.entries(members).map(([k, m]) => [k, typeof m?.raw === 'number' && Number.isFinite(m.raw) ? m.raw : null]));
  return rec;
}

function sameTurns(a: Turn[], b: Turn[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i].role !== b[i].role || a[i].content !== b[i].content) return false;
  return true;
}

/**
 * Collects records, groups them by prompt_id in first-seen order, assigns missing sample ids
 * and checks that every sample of a prompt carries the same prompt text.
 */
export class ScoredSampleCollector {
  readonly groups = new Map<string, ScoredSample[]>();
  count = 0;

  constructor(public file: string) {}

  addParsed(raw: unknown, line: number): void {
    const pid = (raw as { prompt_id?: unknown } | null)?.prompt_id;
    const group = typeof pid === 'string' ? this.groups.get(pid) : undefined;
    const rec = validateRecord(raw, this.file, line, group ? group.length : 0);
    if (group === undefined) {
      this.groups.set(rec.prompt_id, [rec]);
    } else {
      if (!sameTurns(group[0].prompt, rec.prompt)) {
        throw new InputError(
          this.file,
          line,
          `prompt_id ${rec.prompt_id} has a different prompt than on line ${group[0].line}`,
          'prompt_id must identify one prompt; derive it from a hash of the prompt turns',
        );
      }
      rec.prompt = group[0].prompt; // share one copy per prompt
      group.push(rec);
    }
    this.count++;
  }

  addLine(text: string, line: number): void {
    let raw: unknown;
    try {
      raw = parseJsonAllowingNonFinite(text);
    } catch (e) {
      throw new InputError(this.file, line, `not valid JSON (${(e as Error).message})`, 'each line must hold one JSON object');
    }
    this.addParsed(raw, line);
  }
}
