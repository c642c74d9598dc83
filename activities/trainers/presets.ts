/**
 * Trainer presets: the argv each trainer is launched with, the feedback file it reads, where its
 * checkpoint lands, and how it resumes. Pure. The versions each preset was written against are in
 * docs/training.md; flags change between releases, so `command` or `extraArgs`
 * adapt a preset to another version.
 */
import type { CommandTrainerConfig } from './command-config';

export interface Preset {
  /** What docs/training.md pins: the trainer version these flags were written against. */
  version: string;
  argv(c: CommandTrainerConfig): string[];
  /** The trained checkpoint inside {{output_dir}}. */
  checkpointSubdir: string;
  /** Arguments that resume from an intermediate checkpoint folder (HF Trainer checkpoint-N/), or null: start the attempt again. */
  resumeArgs: ((dir: string) => string[]) | null;
  /** A config file alignloop writes into the attempt folder ({{config}}), if the trainer reads one. */
  configFile?: (vars: Record<string, string>) => { name: string; text: string };
  /** Why a setting cannot work with this preset, or null. */
  refuse(c: CommandTrainerConfig): string | null;
}

const yamlString = (s: string) => JSON.stringify(s);

export const PRESETS: Record<Exclude<CommandTrainerConfig['preset'], 'custom'>, Preset> = {
  halos: {
    version: 'HALOs (ContextualAI/HALOs main, 2025: launch.py with Hydra overrides, train/sample.py)',
    argv: (c) => [
      'accelerate',
      'launch',
      'launch.py',
      'loss={{method}}',
      'model={{model}}',
      'train_datasets=[{{feedback.halos}}]',
      'test_datasets=[{{feedback.halos}}]',
      'exp_name={{exp_name}}',
      '++cache_dir={{output_dir}}',
      '++model.load_from={{policy.path}}',
      ...(c.reference === 'initial' ? ['++model.from_checkpoint={{reference.path}}'] : []),
      '++online=true',
      '++loss.beta={{beta}}',
    ],
    checkpointSubdir: '{{exp_name}}/FINAL',
    resumeArgs: null,
    refuse: () => null,
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
    version: 'OpenRLHF 0.8.x (flags before the 2026-04 rename: --pretrain, --ref_pretrain, --save_path; KTO still present)',
    argv: (c) => [
      'deepspeed',
      '--module',
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
    ],
    checkpointSubdir: '.',
    resumeArgs: null,
    refuse: (c) => (c.method === 'grpo' ? 'trainer.method: grpo is not an OpenRLHF offline trainer; use dpo or kto, or preset: custom' : null),
  },
};
