/** Loading a standalone judge config (`alignloop judge --config`): the `labeler` block of a campaign file, or the block alone. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { JudgeConfig, JudgeConfigSchema } from './config';
import { InputError } from '../../config/errors';

/** A judge config and the budget it names: a campaign file's `budget.usd`, or `budget: USD` beside the block alone. */
export function loadJudgeConfigWithBudget(file: string): { config: JudgeConfig; budgetUsd: number | null } {
  let raw: unknown;
  try {
    raw = parseYaml(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new InputError(file, undefined, (e as Error).message.split('\n')[0]);
  }
  const doc = (raw ?? {}) as { labeler?: unknown; budget?: unknown };
  const { budget: blockBudget, ...block } = (doc.labeler ? {} : doc) as Record<string, unknown>;
  const budget = doc.labeler ? (doc.budget as { usd?: unknown } | undefined)?.usd : blockBudget;
  if (budget !== undefined && !(typeof budget === 'number' && budget > 0)) {
    throw new InputError(file, undefined, `budget: must be a positive number of USD, got ${JSON.stringify(budget)}`);
  }
  const r = JudgeConfigSchema.safeParse(doc.labeler ?? block);
  if (!r.success) throw new InputError(file, undefined, r.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`).join('; '));
  if (r.data.template) r.data.template = path.resolve(path.dirname(file), r.data.template);
  return { config: r.data, budgetUsd: (budget as number | undefined) ?? null };
}

export function loadJudgeConfig(file: string): JudgeConfig {
  return loadJudgeConfigWithBudget(file).config;
}
