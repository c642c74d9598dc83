/**
 * The presets' argv against what the trainers read (HALOs 4831988's launch.py: the policy loads from
 * model.from_checkpoint, else model.load_from, else model.name_or_path; the reference from
 * model.load_from, else model.name_or_path; from_checkpoint loads optimizer.pt and scheduler.pt), the
 * feedback each preset's trainer reads, and which output files become the accepted checkpoint.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkpointFiles } from '../../activities/trainers/checkpoint-files';
import { CommandTrainerConfig, CommandTrainerSchema, commandTrainerKind } from '../../activities/trainers/command/config';
import { installedOpenRlhf, openRlhfMismatch } from '../../activities/trainers/openrlhf-version';
import { PRESETS } from '../../activities/trainers/presets';
import { campaignRuleProblems } from '../../config/load';
import type { CampaignView } from '../../config/kind';
import { ROOT, tmpDir } from '../helpers/paths';

const halos = (extra: Record<string, unknown> = {}): CommandTrainerConfig =>
  CommandTrainerSchema.parse({ kind: 'command', preset: 'halos', method: 'dpo', workDir: '/opt/HALOs', ...extra });

/** What HALOs' launch.py loads, given the Hydra overrides (launch.py's own precedence). */
function halosLoads(argv: string[]): { policy: string | undefined; reference: string | undefined; tokenizer: string | undefined; resume: boolean } {
  const o = (k: string) => argv.find((a) => a.startsWith(`++model.${k}=`))?.split('=')[1];
  return {
    policy: o('from_checkpoint') ?? o('load_from') ?? o('name_or_path'),
    reference: o('load_from') ?? o('name_or_path'),
    tokenizer: o('name_or_path'),
    resume: o('from_checkpoint') !== undefined,
  };
}

describe('halos preset', () => {
  const first = { policyHasOptimizerState: false, policyIsReference: true };
  const later = { policyHasOptimizerState: true, policyIsReference: false };

  test("reference: previous: policy, reference and tokenizer from this iteration's policy; no resume without kept optimizer state", () => {
    const argv = PRESETS.halos.argv(halos({ reference: 'previous' }), { policyHasOptimizerState: false, policyIsReference: true });
    expect(halosLoads(argv)).toEqual({ policy: '{{policy.path}}', reference: '{{policy.path}}', tokenizer: '{{policy.path}}', resume: false });
    expect(PRESETS.halos.refuse(halos({ reference: 'previous' }))).toBeNull();
    // With kept optimizer state, as HALOs' own online scripts: load_from and from_checkpoint both the current checkpoint.
    const kept = PRESETS.halos.argv(halos({ reference: 'previous', keepOptimizerState: true }), { policyHasOptimizerState: true, policyIsReference: true });
    expect(halosLoads(kept)).toEqual({ policy: '{{policy.path}}', reference: '{{policy.path}}', tokenizer: '{{policy.path}}', resume: true });
  });

  test('reference: initial: the reference (and tokenizer) is the initial model; later iterations resume the policy from its checkpoint', () => {
    const t = halos({ reference: 'initial', keepOptimizerState: true });
    expect(halosLoads(PRESETS.halos.argv(t, first))).toEqual({
      policy: '{{reference.path}}',
      reference: '{{reference.path}}',
      tokenizer: '{{reference.path}}',
      resume: false,
    });
    expect(halosLoads(PRESETS.halos.argv(t, later))).toEqual({
      policy: '{{policy.path}}',
      reference: '{{reference.path}}',
      tokenizer: '{{reference.path}}',
      resume: true,
    });
    // Never the initial model as a resume point (HALOs would look for its optimizer.pt and swap policy and reference).
    expect(PRESETS.halos.argv(t, later)).not.toContain('++model.from_checkpoint={{reference.path}}');
  });

  test('reference: initial without kept optimizer state is refused with the reason; a checkpoint without optimizer.pt is refused at run time', () => {
    expect(PRESETS.halos.refuse(halos({ reference: 'initial' }))).toMatch(
      /HALOs loads its reference from model.load_from.*set trainer.keepOptimizerState: true.*or reference: previous/,
    );
    expect(() =>
      PRESETS.halos.argv(halos({ reference: 'initial', keepOptimizerState: true }), { policyHasOptimizerState: false, policyIsReference: false }),
    ).toThrow(/no optimizer.pt/);
  });

  test('launcher words before launch.py, Hydra outputs into the attempt folder, wandb explicit', () => {
    const argv = PRESETS.halos.argv(halos({ reference: 'previous' }), first);
    expect(argv.slice(0, 3)).toEqual(['accelerate', 'launch', 'launch.py']);
    expect(argv).toContain('hydra.run.dir={{work_dir}}/hydra');
    expect(argv).toContain('++wandb.enabled=false');
    expect(PRESETS.halos.argv(halos({ reference: 'previous', wandb: true }), first)).toContain('++wandb.enabled=true');
    const fsdp = ['accelerate', 'launch', '--config_file', 'accelerate_config/fsdp_8gpu.yaml', '--main_process_port', '29501'];
    expect(PRESETS.halos.argv(halos({ reference: 'previous', launcher: fsdp }), first).slice(0, 7)).toEqual([...fsdp, 'launch.py']);
  });
});

describe('feedback each trainer reads', () => {
  const view = (method: 'dpo' | 'kto' | 'grpo', type: 'pairwise' | 'binary' | 'scalar', trainer: Record<string, unknown>): CampaignView => ({
    iterations: 1,
    prompts: { path: 'p', perIteration: 1, reuse: false },
    artifacts: { root: '/a' },
    sampler: { kind: 'openai', samplesPerPrompt: 2 },
    labeler: { kind: 'reward-model' },
    feedback: { type, perPrompt: false },
    trainer: { kind: trainer.kind as string, method, ...trainer },
  });
  const problems = (method: 'dpo' | 'kto' | 'grpo', type: 'pairwise' | 'binary' | 'scalar', trainer: Record<string, unknown>) => {
    const c = view(method, type, trainer);
    const t = trainer.kind === 'command' ? CommandTrainerSchema.parse({ method, ...trainer }) : null;
    return campaignRuleProblems(c, t ? (ty) => commandTrainerKind.feedbackProblem!(t, ty) : undefined)
      .filter((p) => p.path.join('.') === 'feedback.type')
      .map((p) => p.message);
  };
  const H = { kind: 'command', preset: 'halos', workDir: '/opt/HALOs' };

  test("HALOs' GRPO reads pairwise or binary feedback, not scalar", () => {
    expect(problems('grpo', 'pairwise', H)).toEqual([]);
    expect(problems('grpo', 'binary', H)).toEqual([]);
    expect(problems('grpo', 'scalar', H)).toEqual(['GRPO with preset halos reads pairwise or binary feedback, not scalar: set feedback.type to pairwise']);
  });

  test("the built-in trainer's rules stay: its GRPO reads scalar or binary, not pairwise", () => {
    expect(problems('grpo', 'pairwise', { kind: 'builtin' })).toEqual([expect.stringMatching(/GRPO needs scalar/)]);
    expect(problems('grpo', 'scalar', { kind: 'builtin' })).toEqual([]);
    expect(problems('dpo', 'binary', H)).toEqual([expect.stringMatching(/DPO with preset halos reads pairwise feedback, not binary/)]);
    expect(problems('dpo', 'binary', { kind: 'command', preset: 'custom', command: ['x', '{{output_dir}}'] })).toEqual([
      expect.stringMatching(/DPO trains on pairs/),
    ]);
  });
});

describe('the accepted checkpoint', () => {
  test("HALOs' FINAL/ (real, test/fixtures/checkpoints): weights, config and tokenizer kept; the optimizer state only when asked for", () => {
    const names = fs.readdirSync(path.join(ROOT, 'test', 'fixtures', 'checkpoints', 'halos-4831988-dpo-FINAL')).sort();
    expect(checkpointFiles(names, false)).toEqual({
      keep: ['config.json', 'generation_config.json', 'pytorch_model.bin', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json'],
      drop: ['README.md', 'metrics.json', 'optimizer.pt', 'scheduler.pt'],
    });
    expect(checkpointFiles(names, true).drop).toEqual(['README.md']);
  });

  test('a real TRL output folder: everything the next sampler needs is kept; the model card and training args are not', () => {
    const names = fs.readdirSync(path.join(ROOT, 'test', 'fixtures', 'checkpoints', 'trl-1.16-dpo')).sort();
    expect(checkpointFiles(names, false).drop).toEqual(['README.md', 'training_args.bin']);
    expect(checkpointFiles(['model-00001-of-00002.safetensors', 'model.safetensors.index.json', 'chat_template.jinja', 'runs'], false).drop).toEqual(['runs']);
  });
});

describe('openrlhf preset', () => {
  const orl = (extra: Record<string, unknown> = {}) => CommandTrainerSchema.parse({ kind: 'command', preset: 'openrlhf', method: 'dpo', ...extra });
  const at = { policyHasOptimizerState: false, policyIsReference: true };

  test("the current dotted flags by default; OpenRLHF 0.8.x's with flags: 0.8; KTO only there", () => {
    const cur = PRESETS.openrlhf.argv(orl(), at);
    expect(cur.slice(0, 5)).toEqual(['deepspeed', '--module', 'openrlhf.cli.train_dpo', '--model.model_name_or_path', '{{policy.path}}']);
    expect(cur).toEqual(expect.arrayContaining(['--ref.model_name_or_path', '--ckpt.output_dir', '--data.dataset', '--model.beta', '--ckpt.save_hf']));
    expect(cur.filter((a) => a.startsWith('--') && !a.includes('.'))).toEqual(['--module']);
    const old = PRESETS.openrlhf.argv(orl({ flags: '0.8', method: 'kto' }), at);
    expect(old.slice(2, 5)).toEqual(['openrlhf.cli.train_kto', '--pretrain', '{{policy.path}}']);
    expect(PRESETS.openrlhf.refuse(orl({ method: 'kto' }))).toMatch(/OpenRLHF removed its KTO trainer .*trainer.flags: "0.8"/);
    expect(PRESETS.openrlhf.refuse(orl({ flags: '0.8', method: 'kto' }))).toBeNull();
  });

  test('what the installed OpenRLHF takes, read from its sources: the dotted flags and no train_kto', () => {
    const dir = tmpDir('openrlhf-');
    const cli = path.join(dir, 'openrlhf', 'cli');
    fs.mkdirSync(cli, { recursive: true });
    fs.writeFileSync(path.join(dir, 'openrlhf', '__init__.py'), '');
    fs.writeFileSync(path.join(cli, '__init__.py'), '');
    fs.writeFileSync(path.join(cli, 'train_dpo.py'), 'parser.add_argument("--model.model_name_or_path", type=str, default=None)\n');
    const before = process.env.PYTHONPATH;
    process.env.PYTHONPATH = dir;
    try {
      const found = installedOpenRlhf();
      expect(found).toMatchObject({ flags: 'current', methods: ['dpo'] });
      expect(openRlhfMismatch(found!, 'current', 'dpo')).toBeNull();
      expect(openRlhfMismatch(found!, '0.8', 'kto')).toMatch(
        /trainer.flags is 0.8, but the OpenRLHF installed here .* uses the current dotted flags and can train dpo: set trainer.flags: current/,
      );
      fs.writeFileSync(path.join(cli, 'train_dpo.py'), 'parser.add_argument("--pretrain", type=str)\n');
      fs.writeFileSync(path.join(cli, 'train_kto.py'), '');
      expect(installedOpenRlhf()).toMatchObject({ flags: '0.8', methods: ['dpo', 'kto'] });
    } finally {
      if (before === undefined) delete process.env.PYTHONPATH;
      else process.env.PYTHONPATH = before;
    }
  });
});
