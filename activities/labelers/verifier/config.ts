/** Settings of the `verifier` labeler: a deterministic program (an exact-answer checker, a format check) that scores or passes each sample. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import type { Problem } from '../../../config/kind';
import { unknownPlaceholders } from '../../campaign/checks';
import { INHERIT_ENV } from '../../process/child-env';
import { placeholdersOf } from '../../process/argv-template';
import type { LabelerKind } from '../labeler';

export const VERIFIER_PLACEHOLDERS = ['in', 'out'];

export const VerifierLabelerSchema = z.strictObject({
  kind: z.literal('verifier'),
  command: z
    .array(z.string().min(1))
    .min(1)
    .describe(
      'The argv (no shell), e.g. [python3, check.py, "{{in}}", "{{out}}"]: it reads the samples from {{in}} (JSON lines: index, prompt_id, sample_id, prompt, output) and writes {{out}} (one line per sample: {"index", "score"} or {"index", "pass"}, or {"index", "error"}): docs/composite.md.',
    ),
  workDir: z.string().optional().describe("The verifier's working directory (relative to the campaign file; default: the campaign file's folder)."),
  env: z
    .record(z.string(), z.string())
    .default({})
    .describe('Environment variables set for the verifier (literal values: they are in the workflow history, so no secrets).'),
  inheritEnv: INHERIT_ENV,
  timeoutSeconds: z
    .number()
    .positive()
    .default(300)
    .describe('A verifier still running after this long on one shard is killed (its process group) and the campaign pauses.'),
  stopTimeoutSeconds: z.number().positive().default(10).describe("After SIGTERM to the verifier's process group, how long before SIGKILL."),
  passReward: z.number().default(1).describe('The reward of a sample the verifier passes (when it writes "pass" without a "score").'),
  failReward: z.number().default(0).describe('The reward of a sample the verifier fails.'),
  maxUnlabelledShare: z
    .number()
    .min(0)
    .max(1)
    .default(0.2)
    .describe('Above this share of samples the verifier answers with "error" in a shard, the campaign pauses: something systemic is wrong with it.'),
});

export type VerifierConfig = z.infer<typeof VerifierLabelerSchema>;

/** Problems of a verifier block; `at` is where the block sits in the campaign file. */
export function verifierProblems(l: VerifierConfig, at: (string | number)[]): Problem[] {
  const out: Problem[] = [...unknownPlaceholders(l.command, VERIFIER_PLACEHOLDERS, [...at, 'command'])];
  const used = placeholdersOf(l.command);
  for (const p of VERIFIER_PLACEHOLDERS)
    if (!used.includes(p))
      out.push({
        path: [...at, 'command'],
        message: `the verifier must get {{${p}}} (the ${p === 'in' ? 'samples it reads' : 'file it writes its verdicts to'}) as an argument`,
      });
  if (l.workDir && !fs.existsSync(l.workDir)) out.push({ path: [...at, 'workDir'], message: `folder not found: ${l.workDir}` });
  if (l.passReward <= l.failReward) out.push({ path: [...at, 'passReward'], message: 'passReward must be above failReward' });
  return out;
}

export const verifierKind: LabelerKind<typeof VerifierLabelerSchema> = {
  schema: VerifierLabelerSchema,
  queue: 'score',
  resolvePaths(l, base) {
    l.workDir = path.resolve(base, l.workDir ?? '.');
  },
  problems: (l) => verifierProblems(l, ['labeler']),
  async preflight(l, _c, o) {
    const program = l.command[0];
    const found = program.includes('/')
      ? fs.existsSync(path.resolve(l.workDir ?? '.', program))
      : (process.env.PATH ?? '').split(path.delimiter).some((d) => d && fs.existsSync(path.join(d, program)));
    if (!found) o.warn(`warning: labeler.command[0] "${program}" is not on this PATH; the score workers must have it`);
    return [];
  },
  load: async () => (await import('./labeler')).verifierLabeler,
};
