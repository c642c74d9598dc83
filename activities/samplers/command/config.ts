/** Settings of the `command` sampler: an offline sampler script per shard, whose output alignloop imports. */
import { z } from 'zod';
import type { CampaignView, Problem } from '../../../config/kind';
import { builtinTrainerProblem, checkCommand, unknownPlaceholders } from '../../campaign/checks';
import { INHERIT_ENV } from '../../process/child-env';
import { placeholdersOf } from '../../process/argv-template';
import type { SamplerKind } from '../sampler';

export const CommandSamplerSchema = z.strictObject({
  kind: z.literal('command'),
  command: z
    .array(z.string().min(1))
    .min(1)
    .describe(
      'The sampler\'s argv (no shell), e.g. ["python", "-m", "train.sample", "{{policy.path}}", "--output_file", "{{out}}", …]. Placeholders: {{policy.path}}, {{policy.name}}, {{policy.sha}}, {{prompts.jsonl}}, {{prompts.json}}, {{out}}, {{iteration}}, {{shard}}, {{samplesPerPrompt}}, {{seed}}, and any of `vars`.',
    ),
  env: z
    .record(z.string(), z.string())
    .default({})
    .describe('Environment variables set for the command (literal values: they are in the workflow history, so no secrets; see inheritEnv).'),
  inheritEnv: INHERIT_ENV,
  vars: z.record(z.string(), z.string()).default({}).describe('Your own placeholders for the command, as {{name}}.'),
  format: z
    .enum(['auto', 'jsonl', 'halos'])
    .default('auto')
    .describe("The output's shape: alignloop's JSONL, HALOs' sample.py JSON array, or auto (by the first character and the fields)."),
  samplesPerPrompt: z.number().int().positive().default(8).describe('Samples the command is asked for per prompt ({{samplesPerPrompt}}).'),
  seed: z.number().int().default(0).describe('Seed handed to the command ({{seed}}).'),
  dropTruncated: z.boolean().default(true).describe('Samples marked truncated (or finish_reason "length") are dropped and counted unless false.'),
  stopTimeoutSeconds: z
    .number()
    .positive()
    .default(30)
    .describe("SIGTERM, then SIGKILL of the command's process group after this long, when the attempt is cancelled."),
});

export type CommandSamplerConfig = z.infer<typeof CommandSamplerSchema>;

export const COMMAND_PLACEHOLDERS = [
  'policy.path',
  'policy.name',
  'policy.sha',
  'prompts.jsonl',
  'prompts.json',
  'out',
  'iteration',
  'shard',
  'samplesPerPrompt',
  'seed',
];
export const MANAGED_PLACEHOLDERS = ['policy.path', 'policy.name', 'policy.sha', 'port', 'iteration'];

/** The managed and command samplers run the policy checkpoint as {{policy.path}}. */
export function needsPolicy(kind: string, c: CampaignView): Problem[] {
  if (c.policy) return [];
  return [
    { path: ['policy'], message: `a ${kind} sampler runs the policy checkpoint as {{policy.path}}: add policy: { path: <model folder> } (the initial policy)` },
  ];
}

export const commandSamplerKind: SamplerKind<typeof CommandSamplerSchema> = {
  schema: CommandSamplerSchema,
  problems(s, c) {
    const out = [
      ...builtinTrainerProblem('command', c.trainer.kind, 'trainer.kind: command or none'),
      ...needsPolicy('command', c),
      ...unknownPlaceholders(s.command, [...COMMAND_PLACEHOLDERS, ...Object.keys(s.vars)], ['sampler', 'command'], ' (add your own under sampler.vars)'),
    ];
    if (!placeholdersOf(s.command).includes('out'))
      out.push({ path: ['sampler', 'command'], message: 'the command must write its samples to {{out}}: pass it as the output file argument' });
    return out;
  },
  async preflight(s, _c, o) {
    checkCommand(s.command[0], 'sampler.command[0]', o);
    return [];
  },
  load: async () => (await import('./sampler')).commandSampler,
};
