/**
 * Judge replies -> a score or a verdict, or the reason there is none. A failure is never a number or
 * a label, and a label is taken only when the reply states it unambiguously in the requested form:
 * - structured output: the whole reply is the JSON object asked for (or that object alone in one
 *   ```json fence, as some gateways wrap it), with the field of the right type;
 * - text: the reply's final line is exactly the template's form ("Score: N"; pairwise "Verdict: A|B|tie",
 *   or MT-Bench's [[A]] / [[B]] / [[C]] ending the reply as its only tag; optional whole lines
 *   "Score A: N" / "Score B: N").
 * Anything else (JSON followed by prose, "**Score**: 7", a score quoted mid-reasoning, "3/4") is
 * `unparsable`, and the raw reply is kept. On an integer scale (integer min and max, the default) a
 * non-integer score such as 7.5 is `non_integer`: unlabelled, not rounded.
 */
import { z } from 'zod';

export type FailureReason = 'unparsable' | 'out_of_range' | 'non_integer' | 'empty_reply';
export type ParsedVerdict = { ok: true; score: number } | { ok: false; reason: FailureReason };
export type Winner = 'A' | 'B' | 'tie';
export type ParsedComparison = { ok: true; winner: Winner; scoreA: number | null; scoreB: number | null } | { ok: false; reason: FailureReason };
export interface Scale {
  min: number;
  max: number;
}

/** What structured output asks for (sent through openai's zodResponseFormat). */
export const PointwiseReply = z.object({ reasoning: z.string(), score: z.number() });
export const PairwiseReply = z.object({ reasoning: z.string(), winner: z.enum(['A', 'B', 'tie']), score_a: z.number(), score_b: z.number() });

const NUMBER = '(-?\\d+(?:\\.\\d+)?)';
const SCORE_LINE = new RegExp(`^score\\s*:\\s*${NUMBER}$`, 'i');
const VERDICT_LINE = /^verdict\s*:\s*(A|B|tie)$/i;
/** MT-Bench's tag ends the reply, and is the only tag in it. */
const MT_BENCH_TAG = /\[\[(A|B|C)\]\]/gi;
const SCORE_A_LINE = new RegExp(`^score a\\s*:\\s*${NUMBER}$`, 'i');
const SCORE_B_LINE = new RegExp(`^score b\\s*:\\s*${NUMBER}$`, 'i');

/** The reply as one JSON object: the whole reply, or the whole reply inside a single ```json fence. */
function jsonObject(content: string): Record<string, unknown> | undefined {
  const t = content.trim();
  const fenced = /^```(?:json)?\s*\n([\s\S]*?)\n?```$/i.exec(t);
  const body = fenced && !fenced[1].includes('```') ? fenced[1] : t;
  if (!body.trim().startsWith('{')) return undefined;
  try {
    const v = JSON.parse(body);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function lines(content: string): string[] {
  return content
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
}

/** A score on the scale, or why it is not one. */
function checkScore(n: number, scale: Scale): FailureReason | null {
  if (!Number.isFinite(n)) return 'unparsable';
  if (n < scale.min || n > scale.max) return 'out_of_range';
  if (Number.isInteger(scale.min) && Number.isInteger(scale.max) && !Number.isInteger(n)) return 'non_integer';
  return null;
}

export function parsePointwise(content: string | null | undefined, scale: Scale, structured: boolean): ParsedVerdict {
  if (!content || !content.trim()) return { ok: false, reason: 'empty_reply' };
  let score: number | undefined;
  const obj = structured ? jsonObject(content) : undefined;
  if (obj) {
    if (typeof obj.score !== 'number') return { ok: false, reason: 'unparsable' };
    score = obj.score;
  } else {
    // Text (or a server that ignored response_format): only the exact final line counts.
    const m = SCORE_LINE.exec(lines(content).at(-1) ?? '');
    if (!m) return { ok: false, reason: 'unparsable' };
    score = Number(m[1]);
  }
  const bad = checkScore(score, scale);
  return bad ? { ok: false, reason: bad } : { ok: true, score };
}

/**
 * A comparison of the responses shown as A and B. Scores outside the scale make the reply
 * out_of_range: a judge that breaks the scale is not trusted with the verdict either.
 */
export function parsePairwise(content: string | null | undefined, scale: Scale, structured: boolean): ParsedComparison {
  if (!content || !content.trim()) return { ok: false, reason: 'empty_reply' };
  let winner: Winner;
  let scoreA: number | null = null;
  let scoreB: number | null = null;
  const obj = structured ? jsonObject(content) : undefined;
  if (obj) {
    if (obj.winner !== 'A' && obj.winner !== 'B' && obj.winner !== 'tie') return { ok: false, reason: 'unparsable' };
    winner = obj.winner;
    for (const [k, v] of [
      ['score_a', obj.score_a],
      ['score_b', obj.score_b],
    ] as const) {
      if (v === undefined || v === null) continue;
      if (typeof v !== 'number') return { ok: false, reason: 'unparsable' };
      if (k === 'score_a') scoreA = v;
      else scoreB = v;
    }
  } else {
    const ls = lines(content);
    const last = ls.at(-1) ?? '';
    const tags = [...content.matchAll(MT_BENCH_TAG)];
    const v = VERDICT_LINE.exec(last)?.[1] ?? (tags.length === 1 && last.endsWith(tags[0][0]) ? tags[0][1] : undefined);
    if (!v) return { ok: false, reason: 'unparsable' };
    const w = v.toUpperCase();
    winner = w === 'A' ? 'A' : w === 'B' ? 'B' : 'tie';
    const sa = ls.map((l) => SCORE_A_LINE.exec(l)).filter((m) => m !== null);
    const sb = ls.map((l) => SCORE_B_LINE.exec(l)).filter((m) => m !== null);
    if (sa.length > 1 || sb.length > 1) return { ok: false, reason: 'unparsable' }; // which one did it mean?
    if (sa.length === 1 && sb.length === 1) [scoreA, scoreB] = [Number(sa[0]![1]), Number(sb[0]![1])];
  }
  for (const s of [scoreA, scoreB]) {
    const bad = s === null ? null : checkScore(s, scale);
    if (bad) return { ok: false, reason: bad };
  }
  return { ok: true, winner, scoreA, scoreB };
}
