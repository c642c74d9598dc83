/**
 * The chat template transformers would use for a model folder: chat_template.jinja (how transformers 5
 * saves it), else tokenizer_config.json's chat_template; from a list of named templates, the
 * "default" one (or the only one). Shared by the reward-model loader, the sampler's completions
 * renderer and the trainer's template check.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface ChatTemplateFile {
  template: string | null;
  /** Where it was read from, for messages. */
  source: string | null;
  /** Why none could be chosen (a list of named templates without a default). */
  problem?: string;
}

export function readChatTemplate(dir: string, tokenizerConfig?: Record<string, unknown>): ChatTemplateFile {
  const jinja = path.join(dir, 'chat_template.jinja');
  if (fs.existsSync(jinja)) return { template: fs.readFileSync(jinja, 'utf8'), source: jinja };
  let cfg = tokenizerConfig;
  if (!cfg) {
    try {
      cfg = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    } catch {
      return { template: null, source: null };
    }
  }
  const t = cfg.chat_template;
  if (typeof t === 'string') return { template: t, source: `${dir}/tokenizer_config.json` };
  if (Array.isArray(t)) {
    const named = t.filter((x): x is { name: string; template: string } => x && typeof x.name === 'string' && typeof x.template === 'string');
    const pick = named.find((x) => x.name === 'default') ?? (named.length === 1 ? named[0] : undefined);
    if (!pick)
      return {
        template: null,
        source: null,
        problem: `${dir}/tokenizer_config.json: chat_template is a list of named templates (${named.map((x) => x.name).join(', ')}) without a "default"`,
      };
    return { template: pick.template, source: `${dir}/tokenizer_config.json (template "${pick.name}")` };
  }
  return { template: null, source: null };
}

export const templateSha = (t: string | null) => (t === null ? null : createHash('sha256').update(t).digest('hex'));
