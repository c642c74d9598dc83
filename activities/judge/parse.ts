/** Judge replies -> a score, or the reason there is none. A failure is never a number. */
export type ParsedVerdict = { ok: true; score: number } | { ok: false; reason: 'unparsable' | 'out_of_range' | 'empty_reply' };

export function parsePointwise(content: string | null | undefined, scale: { min: number; max: number }, structured: boolean): ParsedVerdict {
  if (!content || !content.trim()) return { ok: false, reason: 'empty_reply' };
  let score: number | undefined;
  if (structured) {
    try {
      const j = JSON.parse(content);
      if (typeof j?.score === 'number') score = j.score;
    } catch { /* fall through to the text parser */ }
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
