/**
 * Prompt + response -> token ids, with the model's chat template when it has one, else the
 * documented plain format. Over-long items lose prompt tokens from the left first, then the
 * start of the response, so the end of the response (where decoder reward models pool) stays.
 */
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import type { Turn } from '../feedback/scored-samples';
import { tokenString } from '../artifacts/chat-template-file';
import { applyPythonSemantics } from './jinja-python';
import { applyRustSemantics } from './tokenizers-rust';
import type { ModelFolder } from './model-folder';

/** Does the tokenizer's normalizer lowercase (BertNormalizer lowercase, or a Lowercase step)? */
function lowercases(n: unknown): boolean {
  if (!n || typeof n !== 'object') return false;
  const x = n as { type?: string; lowercase?: boolean; normalizers?: unknown[] };
  if (x.type === 'Lowercase' || (x.type === 'BertNormalizer' && x.lowercase !== false)) return true;
  return Array.isArray(x.normalizers) && x.normalizers.some(lowercases);
}

/**
 * HF tokenizers lowercase one character at a time (Σ -> σ everywhere); JavaScript's toLowerCase
 * applies Unicode's final-sigma rule (Σ -> ς at the end of a word), which changes the token ids.
 * Lowering capital sigma first gives HF's result (an original ς is left alone).
 */
export function hfLowercaseShim(text: string): string {
  return text.replace(/\u03a3/g, '\u03c3');
}

export interface HfTokenizer {
  /** Text -> ids, with or without the post-processor's special tokens. */
  encode(text: string, addSpecial: boolean): number[];
  /** A sentence pair as `tokenizer(a, b)` encodes it: the post-processor's special tokens and segment ids. */
  encodePair(a: string, b: string): { ids: number[]; typeIds: number[] };
}

/** One tokenizer that encodes as HF tokenizers would (the Rust-semantics shims; the lowercase shim where the normalizer lowercases). */
export function hfTokenizer(tokenizerJson: Record<string, unknown>, tokenizerConfig: Record<string, unknown>): HfTokenizer {
  applyRustSemantics();
  const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
  const lower = lowercases(tokenizerJson.normalizer);
  const norm = (t: string) => (lower ? hfLowercaseShim(t) : t);
  return {
    encode: (text, addSpecial) => tokenizer.encode(norm(text), { add_special_tokens: addSpecial }).ids,
    encodePair: (a, b) => {
      // As transformers' `tokenizer(a, b)`: an empty second text is no pair (one sequence).
      const e = tokenizer.encode(norm(a), { text_pair: b === '' ? null : norm(b), add_special_tokens: true, return_token_type_ids: true });
      return { ids: e.ids, typeIds: e.token_type_ids ?? e.ids.map(() => 0) };
    },
  };
}

/**
 * How a prompt and response become the model's input. `auto`: the chat template when the model has
 * one, else the plain format. `pair`: a sentence pair (prompt text, response), as encoder reward
 * models such as OpenAssistant's DeBERTa ones are called (`tokenizer(question, answer)`).
 */
export type InputFormat = 'auto' | 'pair';

/** The first text of a pair: a lone user turn's content; a longer conversation as plain-format lines. */
export function pairQuestion(prompt: Turn[]): string {
  if (prompt.length === 1 && prompt[0].role === 'user') return prompt[0].content;
  return prompt.map((t) => `${t.role}: ${t.content}`).join('\n');
}

/** `needle` in `hay` at or after `from`, or -1. */
function indexOf(hay: number[], needle: number[], from: number): number {
  outer: for (let i = from; i + needle.length <= hay.length; i++) {
    for (let k = 0; k < needle.length; k++) if (hay[i + k] !== needle[k]) continue outer;
    return i;
  }
  return -1;
}

/** A chat template rendered as transformers' apply_chat_template renders it (see jinja-python.ts). */
export function chatTemplate(source: string): (ctx: { messages: Turn[]; bos_token: string; eos_token: string; add_generation_prompt: boolean }) => string {
  applyPythonSemantics();
  const t = new Template(source);
  return (ctx) => t.render(ctx);
}

/** A chat template with the tokenizer config's BOS and EOS bound: messages -> the text to tokenize or send. */
export function conversationRenderer(source: string, tokenizerConfig: Record<string, unknown>): (messages: Turn[], addGenerationPrompt: boolean) => string {
  const t = chatTemplate(source);
  const bos = tokenString(tokenizerConfig.bos_token) ?? '';
  const eos = tokenString(tokenizerConfig.eos_token) ?? '';
  return (messages, addGenerationPrompt) => t({ messages, bos_token: bos, eos_token: eos, add_generation_prompt: addGenerationPrompt });
}

/** The plain format used when a model has no chat template (scripts/build_fixtures.py mirrors it). */
export function plainFormat(prompt: Turn[], response: string | null): string {
  const head = prompt.map((t) => `${t.role}: ${t.content}\n`).join('');
  return response === null ? `${head}assistant: ` : `${head}assistant: ${response}`;
}

export interface Encoded {
  ids: number[];
  truncated: boolean;
  /** Segment ids, for sentence pairs. */
  typeIds?: number[];
}

export class TextEncoder {
  private readonly tokenizer: HfTokenizer;
  private readonly template: ReturnType<typeof conversationRenderer> | null;
  private readonly addSpecial: boolean;

  constructor(
    private readonly model: ModelFolder,
    readonly maxLength: number,
    readonly inputFormat: InputFormat = 'auto',
  ) {
    this.tokenizer = hfTokenizer(model.tokenizerJson, model.tokenizerConfig);
    this.template = model.chatTemplate && inputFormat === 'auto' ? conversationRenderer(model.chatTemplate, model.tokenizerConfig) : null;
    // A chat template writes its own special tokens; adding them again would double BOS.
    this.addSpecial = this.template === null;
  }

  render(prompt: Turn[], response: string | null): string {
    if (!this.template) return plainFormat(prompt, response);
    const messages = response === null ? prompt : [...prompt, { role: 'assistant', content: response }];
    return this.template(messages, response === null);
  }

  private ids(text: string): number[] {
    return this.tokenizer.encode(text, this.addSpecial);
  }

  encode(prompt: Turn[], response: string): Encoded {
    if (this.inputFormat === 'pair') return this.encodeAsPair(pairQuestion(prompt), response);
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

  /**
   * A sentence pair, truncated by the same rule as a rendered conversation: the question's tokens
   * from the left first, then the start of the response; the post-processor's special tokens stay.
   */
  private encodeAsPair(question: string, response: string): Encoded {
    const full = this.tokenizer.encodePair(question, response);
    if (full.ids.length <= this.maxLength) return { ...full, truncated: false };
    // HF encodes each text of a pair alone, then adds the special tokens: find both texts in the pair.
    const a = this.tokenizer.encode(question, false);
    const b = this.tokenizer.encode(response, false);
    const at = indexOf(full.ids, a, 0);
    const bt = at < 0 ? -1 : indexOf(full.ids, b, at + a.length);
    const specials = full.ids.length - a.length - b.length;
    const budget = this.maxLength - specials;
    const keep = (from: number, to: number) => ({ ids: full.ids.slice(from, to), typeIds: full.typeIds.slice(from, to) });
    if (bt < 0 || budget <= 0) {
      const tail = keep(full.ids.length - this.maxLength, full.ids.length);
      return { ...tail, truncated: true };
    }
    const keepB = Math.min(b.length, budget);
    const keepA = Math.min(a.length, budget - keepB);
    const parts = [keep(0, at), keep(at + a.length - keepA, at + a.length), keep(at + a.length, bt), keep(bt + b.length - keepB, full.ids.length)];
    return { ids: parts.flatMap((p) => p.ids), typeIds: parts.flatMap((p) => p.typeIds), truncated: true };
  }
}
