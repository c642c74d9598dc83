/** Judge replies -> a score or a verdict, or the reason there is none. A failure is never a number or a label. */
import { z } from 'zod';

export type FailureReason = 'unparsable' | 'out_of_range' | 'empty_reply';
export type ParsedVerdict = { ok: true; score: number } | { ok: false; reason: FailureReason };
export type Winner = 'A' | 'B' | 'tie';
export type ParsedComparison = { ok: true; winner: Winner; scoreA: number | null; scoreB: number | null } | { ok: false; reason: FailureReason };

/** What structured output asks for (sent through openai's zodResponseFormat). */
export const PointwiseReply = z.object({ reasoning: z.string(), score: z.number() });
export const PairwiseReply = z.object({ reasoning: z.string(), winner: z.enum(['A', 'B', 'tie']), score_a: z.number(), score_b: z.number() });

function json(content: string): unknown {
  try {
    return JSON.parse(content);
  } catch {
    return undefined;
  }
}

export function parsePointwise(content: string | null | undefined, scale: { min: number; max: number }, structured: boolean): ParsedVerdict {
  if (!content || !content.trim()) return { ok: false, reason: 'empty_reply' };
  let score: number | undefined;
  if (structured) {
    const r = PointwiseReply.partial({ reasoning: true }).safeParse(json(content));
    if (r.success) score = r.data.score;
  }
  if (score === undefined) {
    // The last "score: N" (or "rating: N", "N/10") in the reply wins: reasoning may quote other numbers first.
    const re = /(?:score|rating)\s*[:=]\s*\**\s*(-?\d+(?:\.\d+)?)|\b(-?\d+(?:\.\d+)?)\s*\/\s*\d+\b/gi;
    let m: RegExpExecArray | null;
    while ((m = re.exec(content)) !== null) score = Number(m[1] ?? m[2]);
  }
  if (score === undefined || !Number.isFinite(score)) return { ok: false, reason: 'unparsable' };
  if (score < scale.min || score > scale.max) return { ok: false, reason: 'out_of_range' };
  return { ok: true, score };
}

function lastMatch(re: RegExp, text: string): RegExpExecArray | null {
  let m: RegExpExecArray | null;
  let last: RegExpExecArray | null = null;
  while ((m = re.exec(text)) !== null) last = m;
  return last;
}

/**
 * A comparison of the responses shown as A and B: "Verdict: A|B|tie" (or MT-Bench's [[A]] / [[B]] /
 * [[C]] for a tie), optional "Score A: n" / "Score B: n". Scores outside the scale make the reply
 * out_of_range: a judge that breaks the scale is not trusted with the verdict either.
 */
export function parsePairwise(content: string | null | undefined, scale: { min: number; max: number }, structured: boolean): ParsedComparison {
  if (!content || !content.trim()) return { ok: false, reason: 'empty_reply' };
  let winner: Winner | undefined;
  let scoreA: number | null = null;
  let scoreB: number | null = null;
  if (structured) {
    const r = PairwiseReply.partial({ reasoning: true, score_a: true, score_b: true }).safeParse(json(content));
    if (r.success) {
      winner = r.data.winner;
      scoreA = r.data.score_a ?? null;
      scoreB = r.data.score_b ?? null;
    }
  }
  if (winner === undefined) {
    const v = lastMatch(/(?:verdict|winner|better(?: response)?)\s*[:=]\s*\**\s*(?:response\s+|assistant\s+)?(A|B|tie)\b|\[\[(A|B|C)\]\]/gi, content);
    if (v) {
      const w = (v[1] ?? v[2]).toUpperCase();
      winner = w === 'A' ? 'A' : w === 'B' ? 'B' : 'tie';
    }
    const sa = lastMatch(/score[ _]?a\s*[:=]\s*(-?\d+(?:\.\d+)?)/gi, content);
    const sb = lastMatch(/score[ _]?b\s*[:=]\s*(-?\d+(?:\.\d+)?)/gi, content);
    if (sa && sb) [scoreA, scoreB] = [Number(sa[1]), Number(sb[1])];
  }
  if (winner === undefined) return { ok: false, reason: 'unparsable' };
  for (const s of [scoreA, scoreB]) {
    if (s !== null && (!Number.isFinite(s) || s < scale.min || s > scale.max)) return { ok: false, reason: 'out_of_range' };
  }
  return { ok: true, winner, scoreA, scoreB };
}
