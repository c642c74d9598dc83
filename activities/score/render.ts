/**
 * Prompt + response -> token ids, with the model's chat template when it has one, else the
 * documented plain format. Over-long items lose prompt tokens from the left first, then the
 * start of the response, so the end of the response (where decoder reward models pool) stays.
 */
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import type { Turn } from '../feedback/scored-samples';
import type { ModelFolder } from './model-folder';

/** The plain format used when a model has no chat template (scripts/build_fixtures.py mirrors it). */
export function plainFormat(prompt: Turn[], response: string | null): string {
  const head = prompt.map((t) => `${t.role}: ${t.content}\n`).join('');
  return response === null ? `${head}assistant: ` : `${head}assistant: ${response}`;
}

export interface Encoded {
  ids: number[];
  truncated: boolean;
}

export class TextEncoder {
  private readonly tokenizer: Tokenizer;
  private readonly template: Template | null;
  private readonly addSpecial: boolean;
  private readonly bos: string;
  private readonly eos: string;

  constructor(
    private readonly model: ModelFolder,
    readonly maxLength: number,
  ) {
    this.tokenizer = new Tokenizer(model.tokenizerJson, model.tokenizerConfig);
    this.template = model.chatTemplate ? new Template(model.chatTemplate) : null;
    // A chat template writes its own special tokens; adding them again would double BOS.
    this.addSpecial = this.template === null;
    const tok = (v: unknown) =>
      typeof v === 'string' ? v : typeof (v as { content?: string })?.content === 'string' ? (v as { content: string }).content : '';
    this.bos = tok(model.tokenizerConfig.bos_token);
    this.eos = tok(model.tokenizerConfig.eos_token);
  }

  render(prompt: Turn[], response: string | null): string {
    if (!this.template) return plainFormat(prompt, response);
    const messages = response === null ? prompt : [...prompt, { role: 'assistant', content: response }];
    return this.template.render({ messages, bos_token: this.bos, eos_token: this.eos, add_generation_prompt: response === null });
  }

  private ids(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: this.addSpecial }).ids;
  }

  encode(prompt: Turn[], response: string): Encoded {
    const full = this.ids(this.render(prompt, response));
    if (full.length <= this.maxLength) return { ids: full, truncated: false };
    const promptIds = this.ids(this.render(prompt, null));
    let boundary = 0;
    while (boundary < full.length && boundary < promptIds.length && full[boundary] === promptIds[boundary]) boundary++;
    let head = 0;
    while (head < boundary && this.model.specialIds.has(full[head])) head++;
    let tail = 0;
    while (tail < full.length - boundary && this.model.specialIds.has(full[full.length - 1 - tail])) tail++;
    const budget = this.maxLength - head - tail;
    const promptPart = full.slice(head, boundary);
    const responsePart = full.slice(boundary, full.length - tail);
    let keepPrompt: number[];
    let keepResponse: number[];
    if (budget <= 0) {
      // Not even room for the special tokens: keep the end of the response only.
      return { ids: full.slice(full.length - this.maxLength), truncated: true };
    }
    if (responsePart.length >= budget) {
      keepPrompt = [];
      keepResponse = responsePart.slice(responsePart.length - budget);
    } else {
      keepResponse = responsePart;
      keepPrompt = promptPart.slice(promptPart.length - (budget - responsePart.length));
    }
    return { ids: [...full.slice(0, head), ...keepPrompt, ...keepResponse, ...full.slice(full.length - tail)], truncated: true };
  }
}
