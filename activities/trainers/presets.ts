/**
 * Trainer presets: the argv each trainer is launched with, the feedback file it reads, where its
 * checkpoint lands, and how it resumes. Pure. The versions each preset was written against are in
 * docs/training.md; flags change between releases, so `command` or `extraArgs`
 * adapt a preset to another version.
 */
import { ConfigError } from '../../config/errors';
import type { CommandTrainerConfig } from './command/config';

/** What the argv depends on beyond the settings: where this iteration's policy starts. */
export interface ArgvContext {
  /** The policy folder holds the trainer's optimizer state of an earlier iteration (HALOs' optimizer.pt, scheduler.pt). */
  policyHasOptimizerState: boolean;
  /** The policy is the reference model (the first iteration, or reference: previous). */
  policyIsReference: boolean;
}

export interface Preset {
  /** What docs/training.md pins: the trainer version these flags were written against. */
  version: string;
  argv(c: CommandTrainerConfig, at: ArgvContext): string[];
  /** The trained checkpoint inside {{output_dir}}. */
  checkpointSubdir: string;
  /** Arguments that resume from an intermediate checkpoint folder (HF Trainer checkpoint-N/), or null: start the attempt again. */
  resumeArgs: ((dir: string) => string[]) | null;
  /** A config file alignloop writes into the attempt folder ({{config}}), if the trainer reads one. */
  configFile?: (vars: Record<string, string>) => { name: string; text: string };
  /** Why a setting cannot work with this preset, or null. */
  refuse(c: CommandTrainerConfig): string | null;
  /** The feedback types the trainer reads per method, where the preset knows better than the generic rules. */
  feedbackTypes?: Partial<Record<CommandTrainerConfig['method'], FeedbackType[]>>;
}

type FeedbackType = 'pairwise' | 'binary' | 'scalar';

/**
 * HALOs' model arguments (launch.py): the policy loads from model.from_checkpoint, else model.load_from,
 * else model.name_or_path; the reference from model.load_from, else model.name_or_path; the tokenizer from
 * model.name_or_path. from_checkpoint is a resume point: it loads optimizer.pt and scheduler.pt from there.
 */
function halosModelArgs(c: CommandTrainerConfig, at: ArgvContext): string[] {
  if (c.reference === 'previous') {
    // Policy and reference both start from this iteration's policy, as HALOs' own online scripts run it.
    return [
      '++model.name_or_path={{policy.path}}',
      '++model.load_from={{policy.path}}',
      ...(c.keepOptimizerState && at.policyHasOptimizerState ? ['++model.from_checkpoint={{policy.path}}'] : []),
    ];
  }
  // reference: initial. The reference (and tokenizer) is the initial model; a trained policy resumes from its checkpoint.
  if (!at.policyIsReference && !at.policyHasOptimizerState)
    throw new ConfigError('campaign', [
      'trainer.reference: initial with HALOs: the policy checkpoint has no optimizer.pt, so HALOs cannot start it from there with the initial model as reference; set trainer.keepOptimizerState: true before the iteration that writes it, or reference: previous',
    ]);
  return ['++model.name_or_path={{reference.path}}', ...(at.policyHasOptimizerState ? ['++model.from_checkpoint={{policy.path}}'] : [])];
}

const yamlString = (s: string) => JSON.stringify(s);

export const PRESETS: Record<Exclude<CommandTrainerConfig['preset'], 'custom'>, Preset> = {
  halos: {
    version: 'HALOs (ContextualAI/HALOs main 4831988, 2025-09: launch.py with Hydra overrides)',
    argv: (c, at) => [
      ...(c.launcher ?? ['accelerate', 'launch']),
      'launch.py',
      'loss={{method}}',
      'model={{model}}',
      'train_datasets=[{{feedback.halos}}]',
      'test_datasets=[{{feedback.halos}}]',
      'exp_name={{exp_name}}',
      '++cache_dir={{output_dir}}',
      ...halosModelArgs(c, at),
      '++online=true',
      '++loss.beta={{beta}}',
      `++wandb.enabled=${c.wandb}`,
      // Hydra writes outputs/<date>/ into the working directory (the HALOs checkout) otherwise.
      'hydra.run.dir={{work_dir}}/hydra',
    ],
    checkpointSubdir: '{{exp_name}}/FINAL',
    resumeArgs: null,
    refuse: (c) =>
      c.reference === 'initial' && !c.keepOptimizerState
        ? 'trainer.reference: initial with HALOs: HALOs loads its reference from model.load_from (else model.name_or_path), the model the policy starts from; ' +
          "a policy that starts from the previous checkpoint with the initial model as reference exists only as HALOs' resume (++model.from_checkpoint), " +
          'which loads optimizer.pt and scheduler.pt from that checkpoint: set trainer.keepOptimizerState: true (the optimizer state then carries across iterations), or reference: previous'
        : null,
    feedbackTypes: {
      dpo: ['pairwise'],
      kto: ['binary', 'pairwise'],
      // train/dataloader.py GroupUnpairedPreferenceDataLoader: "data is neither paired nor has desirability labels".
      grpo: ['pairwise', 'binary'],
    },
  },
  trl: {
    version: 'TRL 1.16 CLI (`trl dpo|kto --config`, local JSON datasets via `datasets: [{path: json, data_files: …}]`; run for real with transformers 5.17)',
    argv: (c) => ['trl', c.method, '--config', '{{config}}'],
    checkpointSubdir: '.',
    resumeArgs: (dir) => ['--resume_from_checkpoint', dir],
    configFile: (v) => ({
      name: 'trl-config.yaml',
      text:
        [
          `model_name_or_path: ${yamlString(v['policy.path'])}`,
          `datasets:\n  - path: json\n    data_files: ${yamlString(v['feedback.trl'])}`,
          `output_dir: ${yamlString(v.output_dir)}`,
          `beta: ${v.beta}`,
          'report_to: none',
          'save_strategy: steps',
          'save_steps: 200',
          'logging_steps: 1',
        ].join('\n') + '\n',
    }),
    // The TRL CLI has no reference-model flag: the reference is the model it starts from.
    refuse: (c) =>
      c.reference === 'initial'
        ? "trainer.reference: initial cannot be honoured by TRL's CLI (it has no reference-model flag: the reference is the model training starts from, i.e. reference: previous); set reference: previous, or use preset: custom with a script that loads ref_model"
        : c.method === 'grpo'
          ? 'trainer.method: grpo with TRL samples inside the trainer (trl grpo), which an alignloop iteration does not do; use dpo or kto, or preset: custom'
          : null,
  },
  openrlhf: {
    version:
      'OpenRLHF: current dotted flags (2026-04 on: --model.model_name_or_path, --ckpt.output_dir; DPO only), or flags: 0.8 (0.8.x: --pretrain, --save_path; DPO and KTO)',
    argv: (c) => [...(c.launcher ?? ['deepspeed', '--module']), ...(c.flags === '0.8' ? openRlhf08(c) : openRlhfCurrent())],
    checkpointSubdir: '.',
    resumeArgs: null,
    refuse: (c) =>
      c.method === 'grpo'
        ? 'trainer.method: grpo is not an OpenRLHF offline trainer; use dpo or kto, or preset: custom'
        : c.method === 'kto' && c.flags === 'current'
          ? 'trainer.method: kto: OpenRLHF removed its KTO trainer in the 2026-04 flag rename; with OpenRLHF 0.8.x installed set trainer.flags: "0.8", or use preset halos or trl'
          : null,
  },
};

/** OpenRLHF 0.8.x: flat flags, DPO and KTO. */
function openRlhf08(c: CommandTrainerConfig): string[] {
  return [
    c.method === 'kto' ? 'openrlhf.cli.train_kto' : 'openrlhf.cli.train_dpo',
    '--pretrain',
    '{{policy.path}}',
    '--ref_pretrain',
    '{{reference.path}}',
    '--save_path',
    '{{output_dir}}',
    '--ckpt_path',
    '{{work_dir}}/ckpt',
    '--dataset',
    '{{feedback.trl}}',
    '--prompt_key',
    'prompt',
    // The TRL-format file holds conversations (message lists): OpenRLHF renders them only with this flag.
    '--apply_chat_template',
    ...(c.method === 'kto' ? ['--output_key', 'completion', '--label_key', 'label'] : ['--chosen_key', 'chosen', '--rejected_key', 'rejected']),
    '--beta',
    '{{beta}}',
    '--save_hf_ckpt',
  ];
}

/** OpenRLHF after the 2026-04 rename: dotted flags; DPO only (KTO was removed). */
function openRlhfCurrent(): string[] {
  return [
    'openrlhf.cli.train_dpo',
    '--model.model_name_or_path',
    '{{policy.path}}',
    '--ref.model_name_or_path',
    '{{reference.path}}',
    '--ckpt.output_dir',
    '{{output_dir}}',
    '--ckpt.path',
    '{{work_dir}}/ckpt',
    '--data.dataset',
    '{{feedback.trl}}',
    '--data.prompt_key',
    'prompt',
    '--data.apply_chat_template',
    '--data.chosen_key',
    'chosen',
    '--data.rejected_key',
    'rejected',
    '--model.beta',
    '{{beta}}',
    '--ckpt.save_hf',
  ];
}
