/** Settings of the `command` trainer: HALOs, TRL, OpenRLHF or any script, run as a supervised subprocess. */
import { z } from 'zod';

export const CommandTrainerSchema = z.strictObject({
  kind: z.literal('command'),
  /** halos | trl | openrlhf: argv, feedback format, checkpoint layout and resume from a preset; custom: `command`. */
  preset: z.enum(['halos', 'trl', 'openrlhf', 'custom']),
  method: z.enum(['dpo', 'kto', 'grpo']),
  beta: z.number().positive().default(0.1),
  /** The reference model: the campaign's initial policy, or the checkpoint this iteration starts from. */
  reference: z.enum(['initial', 'previous']).default('initial'),
  /** custom: the argv (no shell). A preset's argv is replaced when given, extended by extraArgs otherwise. */
  command: z.array(z.string().min(1)).min(1).optional(),
  extraArgs: z.array(z.string()).default([]),
  /** HALOs: the model config (`model=…`, e.g. llama, qwen, mistral). */
  model: z.string().default('llama'),
  env: z.record(z.string(), z.string()).default({}),
  vars: z.record(z.string(), z.string()).default({}),
  /** custom: where in {{output_dir}} the trained checkpoint lands (templated), "." for {{output_dir}} itself. */
  checkpointSubdir: z.string().optional(),
  /** A trainer that writes nothing to its log for this long is killed and the attempt retried (resuming where it can). */
  stallSeconds: z.number().positive().default(1800),
  /** Attempts that crash (non-zero exit) are retried, resuming from the trainer's own checkpoint-N/; after this many the campaign pauses. */
  attempts: z.number().int().positive().default(3),
  stopTimeoutSeconds: z.number().positive().default(30),
  /**
   * A trained checkpoint whose chat template differs from the one it was trained from is refused:
   * the next iteration would sample with another template than this one was trained and sampled
   * with. allow: accept it (both templates' sha256 are in the lineage).
   */
  chatTemplateChange: z.enum(['refuse', 'allow']).default('refuse'),
  /** Keep the folders of this many most recent accepted checkpoints (this iteration's included); unset: keep all. */
  keepCheckpoints: z.number().int().positive().optional(),
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
