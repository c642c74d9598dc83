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
  return { text, sha256: createHash('sha256').update(text).digest('hex'), source: file ?? `default ${mode}` };
}

export function renderConversation(prompt: Turn[]): string {
  return prompt.map((t) => `${t.role}: ${t.content}`).join('\n');
}

function fill(t: JudgeTemplate, values: Record<string, string>): string {
  return t.text.replace(/\{\{(\w+)\}\}/g, (m, k) => values[k] ?? m);
}

export function renderPointwise(t: JudgeTemplate, prompt: Turn[], response: string, scale: { min: number; max: number }): string {
  return fill(t, { prompt: renderConversation(prompt), response, min: String(scale.min), max: String(scale.max) });
}

export function renderPairwise(t: JudgeTemplate, prompt: Turn[], responseA: string, responseB: string, scale: { min: number; max: number }): string {
  return fill(t, { prompt: renderConversation(prompt), response_a: responseA, response_b: responseB, min: String(scale.min), max: String(scale.max) });
}
