/**
 * Importing an offline sampler's output into a samples shard. Two shapes: alignloop's JSONL (one
 * {prompt or prompt_id, output, sample_id?} per line) and HALOs' sample.py JSON array, whose integer
 * prompt_ids restart every run and so mean nothing here: every record is re-keyed by the hash of its
 * prompt turns, and a record whose prompt is not one of the shard's is refused (a sampler that
 * answered other prompts, or the prompts of another shard, must not slip into the training data).
 */
import { InputError } from '../../config/errors';
import { firstNonSpaceChar, forEachJsonArrayElement, forEachJsonLine } from '../artifacts/json-lines';
import type { Turn } from '../feedback/scored-samples';
import { promptId, PromptRecord } from '../prompts';

export type ImportFormat = 'auto' | 'jsonl' | 'halos';

export interface ImportedSample {
  sampleId: number | null;
  order: number;
  output: string;
  truncated: boolean;
  extra: Record<string, unknown>;
}

export interface ImportedShard {
  format: 'jsonl' | 'halos';
  records: number;
  /** By the shard's prompt_id, in the shard's sample order. */
  byPrompt: Map<string, ImportedSample[]>;
  emptyOutputs: number;
}

const CARRIED = ['dataset', 'finish_reason', 'prompt_tokens', 'completion_tokens', 'model'];

function turnsOf(prompt: unknown): Turn[] | null {
  if (typeof prompt === 'string') return prompt.trim() ? [{ role: 'user', content: prompt }] : null;
  if (Array.isArray(prompt) && prompt.length > 0 && prompt.every((t) => t && typeof t.role === 'string' && typeof t.content === 'string'))
    return (prompt as Turn[]).map((t) => ({ role: t.role, content: t.content }));
  return null;
}

/** A string, or a list of turns whose last assistant turn is the answer (HALOs writes both). */
function outputOf(output: unknown): string | null {
  if (typeof output === 'string') return output;
  if (Array.isArray(output)) {
    const last = [...output].reverse().find((t) => t && t.role === 'assistant' && typeof t.content === 'string');
    return last ? (last.content as string) : null;
  }
  return null;
}

export async function importSamples(file: string, format: ImportFormat, shard: PromptRecord[]): Promise<ImportedShard> {
  const first = firstNonSpaceChar(file);
  if (first === undefined)
    throw new InputError(file, undefined, 'the sampler command wrote an empty output file', 'check its log: it should write one record per (prompt, sample)');
  const shape = first === '[' ? 'array' : 'lines';
  if (format === 'halos' && shape !== 'array')
    throw new InputError(
      file,
      1,
      'sampler.format is halos but the file is not a JSON array',
      'HALOs sample.py writes one JSON array; use format: jsonl for JSON lines',
    );
  if (format === 'jsonl' && shape !== 'lines')
    throw new InputError(file, 1, 'sampler.format is jsonl but the file is a JSON array', 'use format: halos (or auto) for a JSON array');
  const known = new Set(shard.map((p) => p.prompt_id));
  const out: ImportedShard = { format: shape === 'array' ? 'halos' : 'jsonl', records: 0, byPrompt: new Map(), emptyOutputs: 0 };
  const onRecord = (raw: unknown, n: number) => {
    const line = shape === 'lines' ? n : undefined;
    const where = shape === 'lines' ? '' : `record ${n}: `;
    const fail = (problem: string, fix?: string): never => {
      throw new InputError(file, line, `${where}${problem}`, fix);
    };
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('expected a JSON object with "prompt" and "output"');
    const r = raw as Record<string, unknown>;
    let id: string;
    if (r.prompt !== undefined) {
      const turns = turnsOf(r.prompt);
      if (!turns) return fail('prompt must be a non-empty string or a list of {role, content} turns');
      id = promptId(turns);
      if (!known.has(id)) {
        const text = turns.map((t) => t.content).join(' ');
        fail(
          `its prompt ("${text.length > 60 ? `${text.slice(0, 60)}…` : text}") is not one of the ${shard.length} prompts of this shard`,
          'the sampler must answer exactly the prompts alignloop hands it ({{prompts.jsonl}} or {{prompts.json}}); prompts are matched by their turns, not by prompt_id',
        );
      }
    } else if (typeof r.prompt_id === 'string' && known.has(r.prompt_id)) {
      id = r.prompt_id;
    } else {
      return fail('no "prompt", and no prompt_id of this shard', 'carry each record\'s "prompt" (or the string prompt_id alignloop gave it)');
    }
    const output = outputOf(r.output);
    if (output === null) fail('output must be a string or a list of turns ending with an assistant turn');
    const sid = r.sample_id;
    if (sid !== undefined && !(Number.isInteger(sid) && (sid as number) >= 0)) fail(`sample_id must be an integer >= 0, got ${JSON.stringify(sid)}`);
    const list = out.byPrompt.get(id) ?? [];
    const extra: Record<string, unknown> = {};
    for (const k of CARRIED) if (r[k] !== undefined) extra[k] = r[k];
    list.push({
      sampleId: (sid as number | undefined) ?? null,
      order: out.records,
      output: output!,
      truncated: r.truncated === true || r.finish_reason === 'length',
      extra,
    });
    out.byPrompt.set(id, list);
    out.records++;
  };
  if (shape === 'array') await forEachJsonArrayElement(file, onRecord);
  else await forEachJsonLine(file, onRecord);
  for (const list of out.byPrompt.values()) list.sort((a, b) => (a.sampleId ?? a.order) - (b.sampleId ?? b.order) || a.order - b.order);
  return out;
}
