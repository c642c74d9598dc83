/** Prompt sets: loading, stable prompt ids, and each iteration's slice of a seeded permutation. */
import { createHash } from 'node:crypto';
import { seededRng, shuffleInPlace } from './feedback/rng';
import { InputError } from '../config/errors';
import { forEachLine } from './artifacts/json-lines';
import type { Turn } from './feedback/scored-samples';

export interface PromptRecord {
  prompt_id: string;
  prompt: Turn[];
  /** The built-in sampler's candidate pool. */
  candidates?: string[];
}

/** Stable id of a prompt: a hash of its turns (role + content). */
export function promptId(turns: Turn[]): string {
  const h = createHash('sha256');
  for (const t of turns) h.update(`${t.role}\u0000${t.content}\u0001`);
  return `p_${h.digest('hex').slice(0, 16)}`;
}

/** Every prompt of a prompts file, validated line by line (file:line errors); onRecord sees each with its line. */
export async function loadPrompts(file: string, onRecord?: (p: PromptRecord, line: number) => void): Promise<PromptRecord[]> {
  const out: PromptRecord[] = [];
  const seen = new Map<string, number>();
  await forEachLine(file, (text, line) => {
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(text);
    } catch (e) {
      throw new InputError(file, line, `not valid JSON (${(e as Error).message})`);
    }
    if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new InputError(file, line, 'expected a JSON object with a "prompt"');
    let turns: Turn[];
    if (typeof r.prompt === 'string' && r.prompt.trim() === '') throw new InputError(file, line, 'prompt is empty');
    if (typeof r.prompt === 'string') turns = [{ role: 'user', content: r.prompt }];
    else if (Array.isArray(r.prompt) && r.prompt.length > 0 && r.prompt.every((t) => t && typeof t.role === 'string' && typeof t.content === 'string'))
      turns = r.prompt as Turn[];
    else throw new InputError(file, line, 'prompt must be a string or a non-empty list of {role, content} turns');
    if (r.candidates !== undefined && !(Array.isArray(r.candidates) && r.candidates.length > 0 && r.candidates.every((c) => typeof c === 'string'))) {
      throw new InputError(file, line, 'candidates must be a non-empty list of strings');
    }
    const id = promptId(turns);
    if (seen.has(id))
      throw new InputError(file, line, `duplicate prompt (same turns as line ${seen.get(id)})`, 'remove the duplicate so each prompt is sampled once per pass');
    seen.set(id, line);
    const record = { prompt_id: id, prompt: turns, candidates: r.candidates as string[] | undefined };
    out.push(record);
    onRecord?.(record, line);
  });
  return out;
}

/** Indices of iteration n's prompts: disjoint slices of one seeded permutation (a new one per pass when reusing). */
export function iterationSlice(total: number, perIteration: number, iteration: number, seed: number): number[] {
  const perms = new Map<number, number[]>();
  const perm = (pass: number) => {
    let p = perms.get(pass);
    if (!p) {
      p = shuffleInPlace(
        Array.from({ length: total }, (_, i) => i),
        seededRng(`${seed}:prompts:${pass}`),
      );
      perms.set(pass, p);
    }
    return p;
  };
  const out: number[] = [];
  for (let j = iteration * perIteration; j < (iteration + 1) * perIteration; j++) out.push(perm(Math.floor(j / total))[j % total]);
  return out;
}
