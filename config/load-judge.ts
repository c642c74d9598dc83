/** Loading a standalone judge config (`alignloop judge --config`): the `labeler` block of a campaign file, or the block alone. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { JudgeConfig, JudgeConfigSchema } from '../activities/judge/config';
import { InputError } from './errors';

export function loadJudgeConfig(file: string): JudgeConfig {
  let raw: unknown;
  try {
    raw = parseYaml(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new InputError(file, undefined, (e as Error).message.split('\n')[0]);
  }
  const obj = (raw as { labeler?: unknown })?.labeler ?? raw;
  const r = JudgeConfigSchema.safeParse(obj);
  if (!r.success) throw new InputError(file, undefined, r.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`).join('; '));
  if (r.data.template) r.data.template = path.resolve(path.dirname(file), r.data.template);
  return r.data;
}
