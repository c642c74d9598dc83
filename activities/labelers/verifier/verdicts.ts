/**
 * What a verifier wrote, checked line by line (pure): one verdict per sample, by index. Anything else
 * (garbage, a missing or repeated index, a score that is not a finite number) is refused with the
 * line it is on, never turned into a reward.
 */

export interface Verdict {
  /** The sample's reward, or null when the verifier answered "error" for it. */
  reward: number | null;
  pass: boolean | null;
  error: string | null;
}

export class VerdictError extends Error {}

const MAX_ERROR_CHARS = 300;

/** The verdicts of `n` samples from the text of the verifier's output file. */
export function parseVerdicts(text: string, n: number, rewards: { passReward: number; failReward: number }): Verdict[] {
  const out: (Verdict | undefined)[] = new Array(n);
  const lines = text.split('\n');
  let seen = 0;
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const where = `line ${i + 1}`;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new VerdictError(`${where} is not JSON: ${JSON.stringify(line.slice(0, 80))}`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new VerdictError(`${where}: expected an object {"index", "score" | "pass" | "error"}`);
    const r = v as Record<string, unknown>;
    const index = r.index;
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= n)
      throw new VerdictError(`${where}: "index" must be an integer from 0 to ${n - 1} (the sample's index in the input), got ${JSON.stringify(index)}`);
    if (out[index]) throw new VerdictError(`${where}: a second verdict for index ${index}`);
    const unknown = Object.keys(r).filter((k) => !['index', 'score', 'pass', 'error'].includes(k));
    if (unknown.length)
      throw new VerdictError(`${where}: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (a verdict has index, score, pass, error)`);
    if (r.error !== undefined) {
      if (typeof r.error !== 'string' || r.error === '')
        throw new VerdictError(`${where}: "error" must be a non-empty string (why this sample has no verdict)`);
      if (r.score !== undefined || r.pass !== undefined) throw new VerdictError(`${where}: a verdict with "error" has no "score" or "pass"`);
      out[index] = { reward: null, pass: null, error: r.error.slice(0, MAX_ERROR_CHARS) };
    } else {
      if (r.pass !== undefined && typeof r.pass !== 'boolean') throw new VerdictError(`${where}: "pass" must be true or false`);
      if (r.score !== undefined && (typeof r.score !== 'number' || !Number.isFinite(r.score)))
        throw new VerdictError(`${where}: "score" must be a finite number, got ${JSON.stringify(r.score)}`);
      if (r.score === undefined && r.pass === undefined) throw new VerdictError(`${where}: a verdict needs "score", "pass" or "error"`);
      const pass = (r.pass as boolean | undefined) ?? null;
      const reward = (r.score as number | undefined) ?? (pass ? rewards.passReward : rewards.failReward);
      out[index] = { reward, pass, error: null };
    }
    seen++;
  });
  if (seen < n) {
    const missing = Array.from({ length: n }, (_, i) => i).filter((i) => !out[i]);
    throw new VerdictError(`${missing.length} of ${n} samples have no verdict (indexes ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''})`);
  }
  return out as Verdict[];
}
