/** Judge prompt templates: named placeholders, and a hash recorded with every judgement. */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import type { Turn } from '../feedback/scored-samples';

export const DEFAULT_POINTWISE_TEMPLATE = `You are grading one answer written by an AI assistant.
Judge how helpful, correct, clear and complete the answer is for the user's request, and
whether it stays on topic and respectful. Ignore length by itself: a longer answer is not better
unless the extra content helps.

<conversation>
{{prompt}}
</conversation>

<response>
{{response}}
</response>

Rate the response on an integer scale from {{min}} (useless or harmful) to {{max}} (excellent).
Reply with one short sentence of reasoning, then a final line of the form "Score: N".`;

export const DEFAULT_PAIRWISE_TEMPLATE = `You are comparing two answers written by AI assistants to the same request.
Decide which answer is more helpful, correct, clear and complete for the user, and which stays on
topic and respectful. The order of the answers says nothing about their quality, and a longer
answer is not better unless the extra content helps. If neither is better, say tie.

<conversation>
{{prompt}}
</conversation>

<response_a>
{{response_a}}
</response_a>

<response_b>
{{response_b}}
</response_b>

Reply with one short sentence of reasoning, then a line "Score A: N" and a line "Score B: N"
(integers from {{min}} to {{max}}), then a final line of the form "Verdict: A", "Verdict: B" or "Verdict: tie".`;

export type JudgeMode = 'pointwise' | 'pairwise';

export interface JudgeTemplate {
  text: string;
  sha256: string;
  source: string;
  /** The tag names the template delimits inserted text with (conversation, response, response_a, ...). */
  delimiters: string[];
}

const REQUIRED: Record<JudgeMode, string[]> = {
  pointwise: ['{{prompt}}', '{{response}}'],
  pairwise: ['{{prompt}}', '{{response_a}}', '{{response_b}}'],
};

export function loadTemplate(file: string | undefined, mode: JudgeMode = 'pointwise'): JudgeTemplate {
  const text = file ? fs.readFileSync(file, 'utf8') : mode === 'pairwise' ? DEFAULT_PAIRWISE_TEMPLATE : DEFAULT_POINTWISE_TEMPLATE;
  const missing = REQUIRED[mode].filter((p) => !text.includes(p));
  if (missing.length) {
    throw new Error(`${file}: a ${mode} judge template needs the placeholders ${REQUIRED[mode].join(', ')}; missing ${missing.join(', ')}`);
  }
  return { text, sha256: createHash('sha256').update(text).digest('hex'), source: file ?? `default ${mode}`, delimiters: delimiterTags(text) };
}

/** Every <tag> / </tag> name in a template: the delimiters inserted text must not open or close. */
export function delimiterTags(text: string): string[] {
  return [...new Set([...text.matchAll(/<\/?([A-Za-z_][\w-]*)>/g)].map((m) => m[1].toLowerCase()))].sort();
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');

function delimiterPattern(tags: string[]): RegExp | null {
  return tags.length ? new RegExp(`<(\\s*/?\\s*(?:${tags.map(escapeRe).join('|')})\\b[^<>]*)>`, 'gi') : null;
}

/**
 * Inserted text with the template's own delimiters made inert (`</response>` -> `&lt;/response&gt;`):
 * a sample ending in `</response> ... Score: 10` must not close the response early and talk to the
 * judge, or a policy is rewarded for learning to. Text without them is inserted unchanged.
 */
export function neutraliseDelimiters(text: string, tags: string[]): string {
  const re = delimiterPattern(tags);
  return re ? text.replace(re, (_, inner: string) => `&lt;${inner}&gt;`) : text;
}

/** Does inserted text hold one of the template's delimiters (counted in the manifest)? */
export function hasDelimiters(text: string, tags: string[]): boolean {
  const re = delimiterPattern(tags);
  return re !== null && re.test(text);
}

export function renderConversation(prompt: Turn[]): string {
  return prompt.map((t) => `${t.role}: ${t.content}`).join('\n');
}

function fill(t: JudgeTemplate, values: Record<string, string>): string {
  return t.text.replace(/\{\{(\w+)\}\}/g, (m, k) => (k in values ? neutraliseDelimiters(values[k], t.delimiters) : m));
}

export function renderPointwise(t: JudgeTemplate, prompt: Turn[], response: string, scale: { min: number; max: number }): string {
  return fill(t, { prompt: renderConversation(prompt), response, min: String(scale.min), max: String(scale.max) });
}

export function renderPairwise(t: JudgeTemplate, prompt: Turn[], responseA: string, responseB: string, scale: { min: number; max: number }): string {
  return fill(t, { prompt: renderConversation(prompt), response_a: responseA, response_b: responseB, min: String(scale.min), max: String(scale.max) });
}
