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

export interface JudgeTemplate {
  text: string;
  sha256: string;
  source: string;
}

export function loadTemplate(file: string | undefined): JudgeTemplate {
  const text = file ? fs.readFileSync(file, 'utf8') : DEFAULT_POINTWISE_TEMPLATE;
  for (const p of ['{{prompt}}', '{{response}}']) {
    if (!text.includes(p)) throw new Error(`${file}: the judge template has no ${p} placeholder`);
  }
  return { text, sha256: createHash('sha256').update(text).digest('hex'), source: file ?? 'default' };
}

export function renderConversation(prompt: Turn[]): string {
  return prompt.map((t) => `${t.role}: ${t.content}`).join('\n');
}

export function renderPointwise(t: JudgeTemplate, prompt: Turn[], response: string, scale: { min: number; max: number }): string {
  const values: Record<string, string> = { prompt: renderConversation(prompt), response, min: String(scale.min), max: String(scale.max) };
  return t.text.replace(/\{\{(\w+)\}\}/g, (m, k) => values[k] ?? m);
}
