/** Settings of the `command` trainer: HALOs, TRL, OpenRLHF or any script, run as a supervised subprocess. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import type { Problem } from '../../../config/kind';
import { readChatTemplate } from '../../artifacts/chat-template-file';
import { checkCommand, unknownPlaceholders } from '../../campaign/checks';
import { layoutProblems } from '../../policy/checkpoint-layout';
import { INHERIT_ENV } from '../../process/child-env';
import { placeholdersOf } from '../../process/argv-template';
import { checkpointSubdirProblem } from '../checkpoint-subdir';
import { installedOpenRlhf, openRlhfMismatch } from '../openrlhf-version';
import { PRESETS } from '../presets';
import type { TrainerKind } from '../trainer';

export const CommandTrainerSchema = z.strictObject({
  kind: z.literal('command'),
  preset: z
    .enum(['halos', 'trl', 'openrlhf', 'custom'])
    .describe('halos | trl | openrlhf: argv, feedback format, checkpoint layout and resume from a preset; custom: `command`.'),
  method: z.enum(['dpo', 'kto', 'grpo']),
  beta: z.number().positive().default(0.1).describe('beta passed to the trainer ({{beta}}).'),
  reference: z
    .enum(['initial', 'previous'])
    .default('initial')
    .describe("The reference model: the campaign's initial policy, or the checkpoint this iteration starts from."),
  command: z
    .array(z.string().min(1))
    .min(1)
    .optional()
    .describe("custom: the argv (no shell). A preset's argv is replaced when given, extended by extraArgs otherwise."),
  extraArgs: z.array(z.string()).default([]).describe("Arguments appended to the preset's argv (HALOs: Hydra overrides such as ++lr=1e-6)."),
  launcher: z
    .array(z.string().min(1))
    .min(1)
    .optional()
    .describe(
      'halos and openrlhf: the launcher words before the trainer (halos: default [accelerate, launch], e.g. [accelerate, launch, --config_file, accelerate_config/fsdp_8gpu.yaml] for FSDP on several GPUs; openrlhf: default [deepspeed, --module]).',
    ),
  flags: z
    .enum(['current', '0.8'])
    .default('current')
    .describe(
      'openrlhf: the CLI flags of the installed OpenRLHF: current (the dotted flags since the 2026-04 rename; DPO only, KTO was removed) or 0.8 (0.8.x: --pretrain, --save_path; DPO and KTO). `validate` says which the installed one takes.',
    ),
  workDir: z
    .string()
    .optional()
    .describe(
      "The trainer's working directory (relative to the campaign file). halos: required, your HALOs checkout (launch.py and config/ are read from it).",
    ),
  wandb: z.boolean().default(false).describe("halos: HALOs' wandb.enabled (HALOs' own default is true); alignloop passes false unless set."),
  keepOptimizerState: z
    .boolean()
    .default(false)
    .describe(
      "Keep the trainer's optimizer and scheduler state (optimizer.pt, scheduler.pt; about twice the weights) in the accepted checkpoint; otherwise only weights, config, tokenizer and chat template are kept. halos: the optimizer then carries across iterations (++model.from_checkpoint); reference: initial needs it.",
    ),
  model: z.string().default('llama').describe('HALOs: the model config (`model=…`, e.g. llama, qwen, mistral).'),
  env: z
    .record(z.string(), z.string())
    .default({})
    .describe('Environment variables set for the trainer (literal values: they are in the workflow history, so no secrets; see inheritEnv).'),
  inheritEnv: INHERIT_ENV,
  vars: z.record(z.string(), z.string()).default({}).describe('Your own placeholders for the command and extraArgs, as {{name}}.'),
  checkpointSubdir: z
    .string()
    .optional()
    .describe(
      'custom: where in {{output_dir}} the trained checkpoint lands (templated), "." for {{output_dir}} itself; never outside it (absolute, .., a path placeholder).',
    ),
  stallSeconds: z
    .number()
    .positive()
    .default(1800)
    .describe('A trainer that writes nothing to its log for this long is killed and the attempt retried (resuming where it can).'),
  attempts: z
    .number()
    .int()
    .positive()
    .default(3)
    .describe("Attempts that crash (non-zero exit) are retried, resuming from the trainer's own checkpoint-N/; after this many the campaign pauses."),
  stopTimeoutSeconds: z.number().positive().default(30).describe("After SIGTERM to the trainer's process group, how long before SIGKILL."),
  chatTemplateChange: z
    .enum(['refuse', 'allow'])
    .default('refuse')
    .describe(
      "A trained checkpoint whose chat template differs from the one it was trained from is refused: the next iteration would sample with another template than this one was trained and sampled with. allow: accept it (both templates' sha256 are in the lineage).",
    ),
  keepCheckpoints: z
    .number()
    .int()
    .positive()
    .optional()
    .describe("Keep the folders of this many most recent accepted checkpoints (this iteration's included); unset: keep all."),
});

export type CommandTrainerConfig = z.infer<typeof CommandTrainerSchema>;

export const TRAINER_PLACEHOLDERS = [
  'policy.path',
  'policy.name',
  'reference.path',
  'feedback.halos',
  'feedback.trl',
  'feedback.jsonl',
  'output_dir',
  'iteration',
  'method',
  'beta',
  'model',
  'config',
  'exp_name',
  'work_dir',
];

export const commandTrainerKind: TrainerKind<typeof CommandTrainerSchema> = {
  schema: CommandTrainerSchema,
  resolvePaths(t, base) {
    if (t.workDir) t.workDir = path.resolve(base, t.workDir);
  },
  feedbackProblem(t, type) {
    const accepted = t.preset === 'custom' || t.command ? undefined : PRESETS[t.preset].feedbackTypes?.[t.method];
    if (!accepted) return undefined;
    return accepted.includes(type)
      ? null
      : `${t.method.toUpperCase()} with preset ${t.preset} reads ${accepted.join(' or ')} feedback, not ${type}: set feedback.type to ${accepted[0]}`;
  },
  problems(t, c) {
    const out: Problem[] = [];
    if (!c.policy) out.push({ path: ['policy'], message: 'a command trainer trains a model folder: add policy: { path: <initial model folder> }' });
    if (c.sampler.kind === 'builtin')
      out.push({ path: ['sampler', 'kind'], message: 'a command trainer trains a real model: sample it with kind openai, managed or command' });
    if (t.preset === 'custom' && !t.command) out.push({ path: ['trainer', 'command'], message: 'preset: custom needs the trainer argv in trainer.command' });
    const refusal = t.preset === 'custom' ? null : PRESETS[t.preset].refuse(t);
    if (refusal) out.push({ path: ['trainer', 'reference'], message: refusal });
    out.push(
      ...unknownPlaceholders(
        [...(t.command ?? []), ...t.extraArgs, t.checkpointSubdir ?? ''],
        [...TRAINER_PLACEHOLDERS, ...Object.keys(t.vars)],
        ['trainer', 'command'],
      ),
    );
    if (t.command && !placeholdersOf(t.command).includes('output_dir'))
      out.push({ path: ['trainer', 'command'], message: 'the trainer must write its checkpoint under {{output_dir}}: pass it as the output folder argument' });
    const outside = t.checkpointSubdir === undefined ? null : checkpointSubdirProblem(t.checkpointSubdir);
    if (outside) out.push({ path: ['trainer', 'checkpointSubdir'], message: outside });
    if (c.policy && fs.existsSync(c.policy.path)) out.push(...startingPointProblems(c.policy.path, c.sampler));
    out.push(...workDirProblems(t));
    return out;
  },
  async preflight(t, _c, o) {
    const program =
      t.command?.[0] ?? (t.preset === 'custom' ? undefined : PRESETS[t.preset].argv(t, { policyHasOptimizerState: false, policyIsReference: true })[0]);
    if (program) checkCommand(program, t.command ? 'trainer.command[0]' : `trainer.preset ${t.preset}`, o);
    if (t.preset === 'openrlhf' && !t.command) {
      const installed = installedOpenRlhf();
      if (!installed) {
        o.warn('warning: trainer.preset openrlhf: no python3 on this PATH imports openrlhf; the train workers must have it');
        return [];
      }
      o.warn(
        `note: trainer.preset openrlhf: OpenRLHF ${installed.version} here takes the ${installed.flags} flags and can train ${installed.methods.join(', ')}`,
      );
      const mismatch = openRlhfMismatch(installed, t.flags, t.method);
      if (mismatch) return [`trainer.flags: ${mismatch}`];
    }
    return [];
  },
  load: async () => (await import('./trainer')).commandTrainer,
};

/** HALOs' launch.py is run by relative path and reads config/ from its working directory. */
function workDirProblems(t: CommandTrainerConfig): Problem[] {
  if (t.workDir && !fs.existsSync(t.workDir)) return [{ path: ['trainer', 'workDir'], message: `folder not found: ${t.workDir}` }];
  if (t.preset !== 'halos' || t.command) return [];
  if (!t.workDir)
    return [{ path: ['trainer', 'workDir'], message: 'preset halos runs launch.py from your HALOs checkout: set trainer.workDir: /path/to/HALOs' }];
  if (!fs.existsSync(path.join(t.workDir, 'launch.py')))
    return [{ path: ['trainer', 'workDir'], message: `${t.workDir} has no launch.py: point trainer.workDir at your HALOs checkout` }];
  return [];
}

/** The initial policy must be a checkpoint a trainer can start from, with the chat template samples and training share. */
function startingPointProblems(policy: string, sampler: { kind: string } & Record<string, unknown>): Problem[] {
  const bad = layoutProblems(policy);
  if (bad.length) return [{ path: ['policy', 'path'], message: `${policy} is not a checkpoint a trainer can start from: ${bad.join('; ')}` }];
  const t = readChatTemplate(policy);
  const serverTemplate = sampler.kind === 'managed' && (sampler.command as string[]).some((a) => a.startsWith('--chat-template'));
  if ((t.template === null || t.problem) && !serverTemplate)
    return [
      {
        path: ['policy', 'path'],
        message:
          `${t.problem ?? `${policy} has no chat template (chat_template in tokenizer_config.json or chat_template.jinja)`}: ` +
          'servers refuse chat requests without one (or apply a default) and trainers apply their own default, so the samples and the training would not use the same template; ' +
          'add the template the model was tuned with to the folder',
      },
    ];
  return [];
}
