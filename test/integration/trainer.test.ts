/**
 * trainer.kind: command with the three presets' real argv, run through shims named like the real
 * programs (trl, accelerate, deepspeed) that start test/fakes/fake-trainer.ts, which writes Hugging
 * Face-layout checkpoints and misbehaves on demand.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { campaignStatusQuery } from '../../workflows/messages';
import { ROOT } from '../helpers/paths';
import { cli, cliEnv, killHard, runToEnd as runToEndIn, spawnWorker, useTestServer, waitFor, writeCampaign } from '../helpers/temporal';

jest.setTimeout(600_000);

const ctx = useTestServer('alignloop-trainer-');
const FAKE_TRAINER = path.join(ROOT, 'dist', 'test', 'fakes', 'fake-trainer.js');
const FAKE_HALOS = path.join(ROOT, 'dist', 'test', 'fakes', 'halos-sample.js');

let bin = '';
/** A stand-in HALOs checkout: launch.py (the fake trainer checks it is in its working directory) and config/. */
let halosDir = '';
beforeAll(() => {
  halosDir = path.join(ctx.dir, 'HALOs');
  fs.mkdirSync(path.join(halosDir, 'config'), { recursive: true });
  fs.writeFileSync(path.join(halosDir, 'launch.py'), '# stand-in: the shim named accelerate runs test/fakes/fake-trainer.ts\n');
  bin = path.join(ctx.dir, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  for (const name of ['trl', 'accelerate', 'deepspeed']) {
    fs.writeFileSync(path.join(bin, name), `#!/bin/sh\nexec "${process.execPath}" "${FAKE_TRAINER}" "$@"\n`, { mode: 0o755 });
  }
});

function modelFolder(name: string): string {
  const dir = path.join(ctx.dir, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'llama' }));
  fs.writeFileSync(path.join(dir, 'model.safetensors'), Buffer.alloc(256, 3));
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{"model": {}}');
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ chat_template: "{% for m in messages %}{{ m['content'] }}\n{% endfor %}" }));
  return dir;
}

const folderSha = (dir: string) => {
  const h = createHash('sha256');
  for (const f of fs.readdirSync(dir).sort()) h.update(f).update(fs.readFileSync(path.join(dir, f)));
  return h.digest('hex');
};

const feedbackFor = (trainer: string) =>
  /method: kto/.test(trainer) ? '{ type: binary, threshold: median, seed: 1 }' : '{ type: pairwise, mode: max, threshold: 0, seed: 1 }';

function campaign(name: string, trainer: string, iterations = 1, feedback?: string, heartbeatTimeoutSeconds?: number): { file: string; policy: string } {
  const policy = modelFolder(`${name}-policy`);
  trainer = trainer.replace('HALOS_DIR', halosDir);
  const sampler = `{ kind: command, command: ${JSON.stringify(['node', FAKE_HALOS, '{{policy.path}}', '--datasets', '{{prompts.json}}', '--output_file', '{{out}}', '--num_samples_per_prompt', '{{samplesPerPrompt}}'])}, samplesPerPrompt: 3 }`;
  const file = writeCampaign(ctx.dir, name, {
    iterations,
    perIteration: 8,
    sampler,
    trainer,
    feedback: feedback ?? feedbackFor(trainer),
    heartbeatTimeoutSeconds,
    extra: `policy: { path: ${policy} }`,
  });
  return { file, policy };
}

const env = (mode = '', extra: Record<string, string> = {}) =>
  cliEnv(ctx.server.address, { PATH: `${bin}:${process.env.PATH}`, FAKE_TRAINER_MODE: mode, ...extra });

const art = (...p: string[]) => path.join(ctx.dir, 'artifacts', ...p);
const readJson = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8'));

function trainerProcesses(marker: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('fake-trainer') && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker);
      } catch {
        return false;
      }
    })
    .map(Number);
}

const runToEnd = (id: string, file: string, e: NodeJS.ProcessEnv) => runToEndIn(ctx, id, file, e);

describe('trainer presets', () => {
  test('trl: two iterations, the second samples from the first checkpoint; lineage and argv recorded, the initial folder untouched', async () => {
    const { file, policy } = campaign('trl', '{ kind: command, preset: trl, method: dpo, beta: 0.2, reference: previous }', 2);
    const before = folderSha(policy);
    const r = await runToEnd('trl-1', file, env());
    expect(r.state).toBe('completed');
    const c0 = readJson(art('trl-1', 'iter-000', 'train', 'checkpoint.json'));
    const c1 = readJson(art('trl-1', 'iter-001', 'train', 'checkpoint.json'));
    expect(c0).toMatchObject({
      format: 'alignloop-checkpoint/1',
      name: 'iter-0',
      path: art('trl-1', 'iter-000', 'train', 'checkpoint'),
      iteration: 0,
      method: 'dpo',
      beta: 0.2,
    });
    expect(c0.trainer.preset).toBe('trl');
    expect(c0.trainer.argv.slice(0, 3)).toEqual(['trl', 'dpo', '--config']);
    expect(Object.keys(c0.files).sort()).toEqual(['chat_template.jinja', 'config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    // The template moved from tokenizer_config.json to chat_template.jinja (as transformers 5 saves it): the same template.
    expect(c0.chat_template_sha256.out).toBe(c0.chat_template_sha256.trained_from);
    const sha = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');
    expect(c0.parent).toBe(sha(art('trl-1', 'initial', 'checkpoint.json')));
    expect(c1.parent).toBe(sha(art('trl-1', 'iter-000', 'train', 'checkpoint.json')));
    expect(c1.feedback_sha256).toBe(sha(art('trl-1', 'iter-001', 'feedback', 'feedback.jsonl')));
    // TRL's reference is the model it starts from (reference: previous): iteration 1 trains from iteration 0's checkpoint.
    expect(fs.readFileSync(path.join(c1.path, 'config.json'), 'utf8')).toContain('fake_trained_steps');
    const s1 = fs.readFileSync(art('trl-1', 'iter-001', 'samples', 'shard-000.jsonl'), 'utf8');
    expect(s1).toContain('checkpoint answer'); // the sampler was handed iteration 0's checkpoint folder
    const m1 = readJson(art('trl-1', 'iter-001', 'manifest.json'));
    expect(m1.train).toMatchObject({ trained: true });
    // The fake prints what TRL 1.x prints (quoted values, other tqdm bars, train_loss at the end): the last step's loss, 0.7 - 6 x 0.05.
    expect(m1.train.last_loss ?? m1.train.lastLoss).toBeCloseTo(0.4, 6);
    expect(m1.train.first_loss ?? m1.train.firstLoss).toBeCloseTo(0.65, 6);
    expect(folderSha(policy)).toBe(before);
    expect(fs.existsSync(art('trl-1', 'iter-000', 'train', 'attempts'))).toBe(false);
    const hist = JSON.parse(cli(['history', 'trl-1', '--json'], env()).stdout) as { checkpointSha256: string; parentSha256: string }[];
    expect(hist[1].parentSha256).toBe(hist[0].checkpointSha256);
    expect(hist[0].parentSha256).toBe(sha(art('trl-1', 'initial', 'checkpoint.json')));
    const log = fs.readFileSync(art('trl-1', 'iter-000', 'train', 'trainer.log'), 'utf8');
    expect(log).toMatch(/fake-trainer argv: \["dpo","--config",".*trl-config.yaml"\]/);
  });

  test.each([
    [
      'halos',
      '{ kind: command, preset: halos, method: kto, model: llama, reference: previous, workDir: HALOS_DIR }',
      /"launch","launch.py","loss=kto","model=llama","train_datasets=\[.*feedback.halos.json\]"/,
    ],
    [
      'openrlhf',
      '{ kind: command, preset: openrlhf, method: dpo }',
      /"--module","openrlhf.cli.train_dpo","--model.model_name_or_path",".*-policy","--ref.model_name_or_path"/,
    ],
    // HALOs' GRPO on pairwise feedback, through the worker's own re-check of the campaign's rules.
    ['halos-grpo', '{ kind: command, preset: halos, method: grpo, reference: previous, workDir: HALOS_DIR }', /"launch","launch.py","loss=grpo"/],
    [
      'openrlhf-08',
      '{ kind: command, preset: openrlhf, flags: "0.8", method: kto }',
      /"--module","openrlhf.cli.train_kto","--pretrain",".*-policy","--ref_pretrain"/,
    ],
  ])('%s: the preset argv runs and the checkpoint is taken from where the trainer writes it', async (name, trainer, argv) => {
    const { file } = campaign(name, trainer);
    const r = await runToEnd(`${name}-1`, file, env());
    expect(r.state).toBe('completed');
    const c0 = readJson(art(`${name}-1`, 'iter-000', 'train', 'checkpoint.json'));
    expect(c0.trainer.preset).toBe(name.replace(/-.*/, ''));
    expect(fs.readFileSync(art(`${name}-1`, 'iter-000', 'train', 'trainer.log'), 'utf8')).toMatch(argv);
    // HALOs saves pytorch_model.bin (save_pretrained(safe_serialization=False)); the others model.safetensors.
    expect(fs.existsSync(path.join(c0.path, name.startsWith('halos') ? 'pytorch_model.bin' : 'model.safetensors'))).toBe(true);
  });
});

describe('trainer failures', () => {
  test('a crash mid-way resumes from its checkpoint-N/; exit 0 without a checkpoint or with a partial one pauses naming what is missing; a hang is killed and retried', async () => {
    // Crash after step 4 (checkpoint-4 written), once: the retry resumes from it.
    const crash = campaign('crash', '{ kind: command, preset: trl, method: dpo, reference: previous }');
    const r = await runToEnd('crash-1', crash.file, env('crash-after=4', { FAKE_TRAINER_ONCE: path.join(ctx.dir, 'crash.once') }));
    expect(r.state).toBe('completed');
    const c = readJson(art('crash-1', 'iter-000', 'train', 'checkpoint.json'));
    expect(c.resumed_from).toMatch(/attempts\/1\/out\/checkpoint-4$/);
    expect(c.attempt).toBe(2);
    const log = fs.readFileSync(art('crash-1', 'iter-000', 'train', 'trainer.log'), 'utf8');
    expect(log).toMatch(/illegal memory access[\s\S]*resuming from .*checkpoint-4 at step 4/);

    // Hangs once with no output: killed after stallSeconds and retried.
    const hang = campaign('hang', '{ kind: command, preset: trl, method: dpo, reference: previous, stallSeconds: 2 }');
    const h = await runToEnd('hang-1', hang.file, env('hang', { FAKE_TRAINER_ONCE: path.join(ctx.dir, 'hang.once') }));
    expect(h.state).toBe('completed');
    expect(trainerProcesses('hang-policy')).toEqual([]);

    for (const [name, mode, message] of [
      ['empty', 'exit0-empty', /trainer exited 0 without a valid checkpoint at .*: no config.json; no weights/],
      ['partial', 'partial', /trainer exited 0 without a valid checkpoint at .*: no weights \(\*\.safetensors or \*\.bin\); no tokenizer files/],
      [
        'template',
        'new-template',
        /the trained checkpoint's chat template is not the one it was trained from \(sha256 \w{12} from .*tokenizer_config.json -> sha256 \w{12} from .*chat_template.jinja\).*trainer.chatTemplateChange: allow/,
      ],
    ] as const) {
      const { file, policy } = campaign(name, '{ kind: command, preset: trl, method: dpo, reference: previous }');
      const e = env(mode);
      const worker = spawnWorker(e);
      try {
        expect(cli(['start', file, '--id', `${name}-1`], e).status).toBe(0);
        const handle = ctx.client.workflow.getHandle(`${name}-1`);
        await waitFor('failed-paused', async () => (await handle.query(campaignStatusQuery).catch(() => null))?.state === 'failed-paused', 120000, 250);
        const s = await handle.query(campaignStatusQuery);
        expect(s.failure).toMatchObject({ stage: 'train', errorType: 'ProcessFailed', attempt: 1 });
        expect(s.pauseReason).toMatch(message);
        expect(fs.existsSync(art(`${name}-1`, 'iter-000', 'train', 'checkpoint.json'))).toBe(false);
        expect(fs.existsSync(path.join(policy, 'model.safetensors'))).toBe(true);
      } finally {
        await killHard(worker);
      }
    }
  });

  test('SIGKILL the train worker mid-training: the orphaned trainer is killed, the campaign completes, the previous checkpoint is untouched', async () => {
    const { file, policy } = campaign('killtrain', '{ kind: command, preset: halos, method: dpo, model: llama, reference: previous, workDir: HALOS_DIR }');
    const before = folderSha(policy);
    const e = env('steps=12,step-ms=500');
    let worker = spawnWorker(e);
    try {
      expect(cli(['start', file, '--id', 'killtrain-1'], e).status).toBe(0);
      // status shows the trainer's step/total, loss and rate from its heartbeat (HALOs' log lines).
      const shown = await waitFor(
        'status shows the training step',
        () => {
          const out = cli(['status', 'killtrain-1'], e).stdout;
          return /iteration 0: train \(step \d+\/12, loss [\d.]+, [\d.]+ (steps\/s|s\/step)\)/.test(out) ? out : null;
        },
        120000,
        500,
      );
      expect(shown).toMatch(/step \d+\/12/);
      await killHard(worker);
      const orphans = trainerProcesses('killtrain-policy');
      expect(orphans.length).toBeGreaterThanOrEqual(1); // own process group: it outlived the worker
      worker = spawnWorker(env());
      expect((await ctx.client.workflow.getHandle('killtrain-1').result()).state).toBe('completed');
      await waitFor('no trainer left', () => trainerProcesses('killtrain-policy').length === 0 || null, 20000, 100);
      expect(folderSha(policy)).toBe(before);
      const c = readJson(art('killtrain-1', 'iter-000', 'train', 'checkpoint.json'));
      expect(c.attempt).toBe(2);
      expect(fs.existsSync(path.join(c.path, 'pytorch_model.bin'))).toBe(true);
    } finally {
      await killHard(worker);
    }
  });
});

describe('halos as HALOs runs it', () => {
  test("reference: initial with kept optimizer state: iteration 1 resumes the policy from iteration 0's checkpoint, the initial model stays the reference; Hydra writes nothing into the checkout", async () => {
    const { file, policy } = campaign(
      'halos-init',
      '{ kind: command, preset: halos, method: dpo, reference: initial, keepOptimizerState: true, workDir: HALOS_DIR }',
      2,
    );
    const r = await runToEnd('halos-init-1', file, env());
    expect(r.state).toBe('completed');
    const c0 = readJson(art('halos-init-1', 'iter-000', 'train', 'checkpoint.json'));
    const log1 = fs.readFileSync(art('halos-init-1', 'iter-001', 'train', 'trainer.log'), 'utf8');
    expect(log1).toContain(`Loading tokenizer ${policy}\n`);
    expect(log1).toContain(`Loading reference model from ${policy}\n`);
    expect(log1).toContain(`Loading policy from ${c0.path}\n`);
    // HALOs' FINAL/ holds pytorch_model.bin and the optimizer state, kept here because the next iteration resumes from it.
    expect(Object.keys(c0.files)).toEqual(expect.arrayContaining(['pytorch_model.bin', 'optimizer.pt', 'scheduler.pt']));
    expect(fs.existsSync(path.join(halosDir, 'outputs'))).toBe(false);
    const m1 = readJson(art('halos-init-1', 'iter-001', 'manifest.json'));
    // HALOs' `train stats after N steps: {'loss/train': …}` lines: the last step's loss, 0.7 - 6 x 0.05.
    expect(m1.train.last_loss ?? m1.train.lastLoss).toBeCloseTo(0.4, 6);
  });

  test('reference: previous: policy and reference both from the previous checkpoint; the optimizer state is not kept', async () => {
    const { file } = campaign('halos-prev', '{ kind: command, preset: halos, method: kto, reference: previous, workDir: HALOS_DIR }', 2);
    expect((await runToEnd('halos-prev-1', file, env())).state).toBe('completed');
    const c0 = readJson(art('halos-prev-1', 'iter-000', 'train', 'checkpoint.json'));
    expect(Object.keys(c0.files).sort()).toEqual(
      ['chat_template.jinja', 'config.json', 'pytorch_model.bin', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json'].sort(),
    );
    expect(fs.existsSync(path.join(c0.path, 'optimizer.pt'))).toBe(false);
    const log1 = fs.readFileSync(art('halos-prev-1', 'iter-001', 'train', 'trainer.log'), 'utf8');
    expect(log1).toContain(`Loading reference model from ${c0.path}\n`);
    expect(log1).toContain(`Loading policy from ${c0.path}\n`);
    expect(log1).toContain('"++wandb.enabled=false"');
  });

  test("status shows the trainer's step with the default heartbeat timeout (30 s): progress reaches the server every few seconds", async () => {
    const { file } = campaign('halos-beat', '{ kind: command, preset: halos, method: dpo, reference: previous, workDir: HALOS_DIR }', 1, undefined, 30);
    const e = env('steps=12,step-ms=700');
    const worker = spawnWorker(e);
    try {
      expect(cli(['start', file, '--id', 'halos-beat-1'], e).status).toBe(0);
      const log = art('halos-beat-1', 'iter-000', 'train', 'trainer.log');
      await waitFor('training under way', () => fs.existsSync(log) && /train stats after 1 steps/.test(fs.readFileSync(log, 'utf8')), 120000, 100);
      // Training has about 7 s left: status must show a step before it ends.
      const shown = await waitFor(
        'status shows a step',
        () => {
          const out = cli(['status', 'halos-beat-1'], e).stdout;
          return /train \(step \d+\/12/.test(out) || /1\/1 iterations done/.test(out) ? out : null;
        },
        60000,
        200,
      );
      expect(shown).toMatch(/iteration 0: train \(step \d+\/12, loss [\d.]+/);
      expect((await ctx.client.workflow.getHandle('halos-beat-1').result()).state).toBe('completed');
    } finally {
      await killHard(worker);
    }
  });

  test('a HALOs attempt that crashes: while it is retried, status says why (not that the failure was too large)', async () => {
    const { file } = campaign('halos-crash', '{ kind: command, preset: halos, method: dpo, reference: previous, workDir: HALOS_DIR }');
    const e = env('crash-after=2,steps=12,step-ms=400', { FAKE_TRAINER_ONCE: path.join(ctx.dir, 'halos-crash.once') });
    const worker = spawnWorker(e);
    try {
      expect(cli(['start', file, '--id', 'halos-crash-1'], e).status).toBe(0);
      const shown = await waitFor(
        'status shows the retry',
        () => {
          const out = cli(['status', 'halos-crash-1'], e).stdout;
          return /retrying: trainPolicy attempt 2/.test(out) ? out : null;
        },
        120000,
        500,
      );
      expect(shown).toMatch(/retrying: trainPolicy attempt 2: trainer exited with code 1 \(attempt 1\); retried/);
      expect(shown).toMatch(/illegal memory access/); // the end of the log tail survives the bound
      expect(shown).not.toMatch(/exceeds size limit/);
      expect((await ctx.client.workflow.getHandle('halos-crash-1').result()).state).toBe('completed');
    } finally {
      await killHard(worker);
    }
  });
});

describe('checkpoint retention and chat templates', () => {
  test('keepCheckpoints: 1 deletes older checkpoint folders once the next is accepted; lineage, verify and the initial folder intact', async () => {
    const { file, policy } = campaign('keep', '{ kind: command, preset: trl, method: dpo, reference: previous, keepCheckpoints: 1 }', 3);
    const before = folderSha(policy);
    expect((await runToEnd('keep-1', file, env())).state).toBe('completed');
    const folder = (i: number) => art('keep-1', `iter-00${i}`, 'train', 'checkpoint');
    expect([0, 1, 2].map((i) => fs.existsSync(folder(i)))).toEqual([false, false, true]);
    for (const i of [0, 1]) {
      expect(readJson(art('keep-1', `iter-00${i}`, 'train', 'checkpoint.pruned.json'))).toMatchObject({
        path: folder(i),
        reason: 'trainer.keepCheckpoints: 1',
      });
      expect(Object.keys(readJson(art('keep-1', `iter-00${i}`, 'train', 'checkpoint.json')).files)).toContain('model.safetensors'); // the record stays
    }
    expect(folderSha(policy)).toBe(before);
    const v = cli(['verify', 'keep-1'], env());
    expect(v.stdout).toMatch(/2 checkpoint folder\(s\) deleted on purpose by trainer.keepCheckpoints/);
    expect(v.status).toBe(0);
    const hist = JSON.parse(cli(['history', 'keep-1', '--json'], env()).stdout) as { checkpointSha256: string; parentSha256: string }[];
    expect(hist[2].parentSha256).toBe(hist[1].checkpointSha256);
    // A folder deleted without a record is still caught.
    fs.rmSync(folder(2), { recursive: true });
    const bad = cli(['verify', 'keep-1'], env());
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toMatch(/missing/);
  });

  test('chatTemplateChange: allow accepts a trainer that saves its own template, with both templates in the lineage', async () => {
    const { file } = campaign('tmpl', '{ kind: command, preset: trl, method: dpo, reference: previous, chatTemplateChange: allow }');
    expect((await runToEnd('tmpl-1', file, env('new-template'))).state).toBe('completed');
    const c = readJson(art('tmpl-1', 'iter-000', 'train', 'checkpoint.json'));
    expect(c.chat_template_sha256.out).not.toBe(c.chat_template_sha256.trained_from);
    expect(fs.readFileSync(path.join(c.path, 'chat_template.jinja'), 'utf8')).toContain('<|{{');
  });
});

describe('secrets in trainer arguments', () => {
  // What alignloop writes. The trainer's own output (a trainer that prints its arguments, as this fake
  // does) goes to trainer.log as it is: not checked here.
  test('a key in trainer.extraArgs reaches the trainer but no artifact alignloop writes, its lines of the trainer log, or CLI output', async () => {
    // One key each redaction pattern knows: after a credential name, and key-shaped.
    const named = 'tokTrainerArg9f8e7d6c',
      shaped = 'sk-trainerArg5b4a3921';
    const { file } = campaign(
      'argkey',
      `{ kind: command, preset: trl, method: dpo, beta: 0.1, reference: previous, extraArgs: ["--hub-api-key=${named}", "--wandb", "${shaped}"] }`,
    );
    expect((await runToEnd('argkey-1', file, env())).state).toBe('completed');
    const c0 = readJson(art('argkey-1', 'iter-000', 'train', 'checkpoint.json'));
    expect(c0.trainer.argv).toEqual(expect.arrayContaining(['--hub-api-key=[REDACTED]', '[REDACTED]']));
    const places: [string, string][] = [
      ['status', cli(['status', 'argkey-1'], env()).stdout],
      ['history command', cli(['history', 'argkey-1', '--json'], env()).stdout],
    ];
    const walk = (d: string): void => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else {
          const text = fs.readFileSync(p, 'utf8');
          places.push([
            path.relative(ctx.dir, p),
            e.name === 'trainer.log'
              ? text
                  .split('\n')
                  .filter((l) => l.startsWith('# '))
                  .join('\n')
              : text,
          ]);
        }
      }
    };
    walk(art('argkey-1'));
    const log = places.find(([f]) => f.endsWith('trainer.log'))![1];
    expect(log).toMatch(/alignloop starts: .*"--hub-api-key=\[REDACTED\]","--wandb","\[REDACTED\]"/);
    for (const [where, text] of places) expect([where, text.includes(named) || text.includes(shaped)]).toEqual([where, false]);
  });
});

describe('trainer configuration', () => {
  test('refused before anything runs: TRL with reference: initial, custom without a command, a policy folder without weights, HALOs without its checkout or with reference: initial and no optimizer state, GRPO on scalar', () => {
    const e = env();
    const { file } = campaign('bad-trl', '{ kind: command, preset: trl, method: dpo, reference: initial }');
    const r = cli(['validate', file], e);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/trainer.reference: trainer.reference: initial cannot be honoured by TRL's CLI/);
    const { file: f2 } = campaign('bad-custom', '{ kind: command, preset: custom, method: dpo }');
    expect(cli(['validate', f2], e).stderr).toMatch(/trainer.command: preset: custom needs the trainer argv/);
    const { file: f3, policy } = campaign('bad-policy', '{ kind: command, preset: halos, method: dpo, reference: previous, workDir: HALOS_DIR }');
    fs.rmSync(path.join(policy, 'model.safetensors'));
    const r3 = cli(['validate', f3], e);
    expect(r3.status).toBe(2);
    expect(r3.stderr).toMatch(/policy.path: .* is not a checkpoint a trainer can start from: no weights/);
    const { file: f5 } = campaign('halos-nowd', '{ kind: command, preset: halos, method: dpo, reference: previous }');
    expect(cli(['validate', f5], e).stderr).toMatch(/trainer.workDir: preset halos runs launch.py from your HALOs checkout: set trainer.workDir/);
    const { file: f6 } = campaign('halos-init-refused', '{ kind: command, preset: halos, method: dpo, reference: initial, workDir: HALOS_DIR }');
    expect(cli(['validate', f6], e).stderr).toMatch(/trainer.reference: trainer.reference: initial with HALOs: .*set trainer.keepOptimizerState: true/);
    // HALOs' GRPO reads pairwise (or binary) feedback, not scalar.
    const grpo = '{ kind: command, preset: halos, method: grpo, reference: previous, workDir: HALOS_DIR }';
    const { file: f7 } = campaign('halos-grpo', grpo, 1, '{ type: pairwise, mode: max, threshold: 0, seed: 1 }');
    const r7 = cli(['validate', f7], e);
    expect(r7.stderr).not.toMatch(/feedback.type/);
    expect(r7.status).toBe(0);
    const { file: f8 } = campaign('halos-grpo-scalar', grpo, 1, '{ type: scalar, seed: 1 }');
    expect(cli(['validate', f8], e).stderr).toMatch(/feedback.type: GRPO with preset halos reads pairwise or binary feedback, not scalar/);
    const { file: f4, policy: p4 } = campaign('no-template', '{ kind: command, preset: trl, method: dpo, reference: previous }');
    fs.writeFileSync(path.join(p4, 'tokenizer_config.json'), '{}');
    const r4 = cli(['validate', f4], e);
    expect(r4.status).toBe(2);
    expect(r4.stderr).toMatch(/policy.path: .*no-template-policy has no chat template .*trainers apply their own default/);
  });
});
