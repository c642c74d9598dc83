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

/**
 * `choice`: undefined or "default" (what transformers picks), the name of one of the folder's named
 * templates, or a .jinja file.
 */
export function readChatTemplate(dir: string, tokenizerConfig?: Record<string, unknown>, choice?: string): ChatTemplateFile {
  if (choice && choice !== 'default' && (choice.includes('/') || choice.endsWith('.jinja'))) {
    if (!fs.existsSync(choice)) return { template: null, source: null, problem: `chat template file not found: ${choice}` };
    return { template: fs.readFileSync(choice, 'utf8'), source: choice };
  }
  const named = choice && choice !== 'default' ? choice : null;
  const jinja = path.join(dir, 'chat_template.jinja');
  if (named) return pickNamed(dir, tokenizerConfig, named);
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

function pickNamed(dir: string, tokenizerConfig: Record<string, unknown> | undefined, name: string): ChatTemplateFile {
  let cfg = tokenizerConfig;
  if (!cfg) {
    try {
      cfg = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    } catch {
      cfg = {};
    }
  }
  const list = Array.isArray(cfg.chat_template)
    ? (cfg.chat_template as unknown[]).filter((x): x is { name: string; template: string } => !!x && typeof (x as { name?: unknown }).name === 'string')
    : [];
  const hit = list.find((x) => x.name === name);
  if (hit) return { template: hit.template, source: `${dir}/tokenizer_config.json (template "${name}")` };
  return {
    template: null,
    source: null,
    problem: `${dir}: no chat template named "${name}" (${list.length ? `named templates: ${list.map((x) => x.name).join(', ')}` : 'the folder has no named templates'})`,
  };
}

/** A special token as tokenizer_config.json writes it: a string, or an AddedToken object with its content. */
export function tokenString(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return null;
}

export const templateSha = (t: string | null) => (t === null ? null : createHash('sha256').update(t).digest('hex'));
