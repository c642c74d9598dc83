/**
 * `alignloop verify` inside folders: an accepted checkpoint folder of a command trainer, the initial
 * policy folder, the reward model the campaign labels with, and the prompts file. A file dropped in,
 * a file edited, a weight file swapped: each is reported, with a non-zero exit.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MODELS, QUICKSTART_PROMPTS, ROOT } from '../helpers/paths';
import { cli, cliEnv, runToEnd, useTestServer, writeCampaign } from '../helpers/temporal';

jest.setTimeout(600_000);

const ctx = useTestServer('alignloop-verify-');
const FAKE_TRAINER = path.join(ROOT, 'dist', 'test', 'fakes', 'fake-trainer.js');
const FAKE_HALOS = path.join(ROOT, 'dist', 'test', 'fakes', 'halos-sample.js');
const BENCH_RM = path.join(path.dirname(MODELS.decoder), 'bench-rm');

test('verify reports a file dropped into or edited in a checkpoint folder, a swapped reward model and an edited prompts file', async () => {
  const bin = path.join(ctx.dir, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  fs.writeFileSync(path.join(bin, 'trl'), `#!/bin/sh\nexec "${process.execPath}" "${FAKE_TRAINER}" "$@"\n`, { mode: 0o755 });
  const policy = path.join(ctx.dir, 'policy');
  fs.mkdirSync(policy);
  fs.writeFileSync(path.join(policy, 'config.json'), JSON.stringify({ model_type: 'llama' }));
  fs.writeFileSync(path.join(policy, 'model.safetensors'), Buffer.alloc(256, 3));
  fs.writeFileSync(path.join(policy, 'tokenizer.json'), '{"model": {}}');
  fs.writeFileSync(path.join(policy, 'tokenizer_config.json'), JSON.stringify({ chat_template: "{% for m in messages %}{{ m['content'] }}\n{% endfor %}" }));
  // The campaign's own copies of the reward model and the prompts: the test changes them.
  const rm = path.join(ctx.dir, 'rm');
  fs.cpSync(MODELS.bt, rm, { recursive: true });
  const prompts = path.join(ctx.dir, 'prompts.jsonl');
  fs.copyFileSync(QUICKSTART_PROMPTS, prompts);
  const file = writeCampaign(ctx.dir, 'vf', {
    iterations: 1,
    perIteration: 8,
    promptsPath: prompts,
    sampler: `{ kind: command, command: ${JSON.stringify(['node', FAKE_HALOS, '{{policy.path}}', '--datasets', '{{prompts.json}}', '--output_file', '{{out}}', '--num_samples_per_prompt', '{{samplesPerPrompt}}'])}, samplesPerPrompt: 3 }`,
    labeler: `{ kind: reward-model, model: ${rm}, threads: 1 }`,
    trainer: '{ kind: command, preset: trl, method: dpo, reference: previous }',
    feedback: '{ type: pairwise, mode: max, threshold: 0, seed: 1 }',
    extra: `policy: { path: ${policy} }`,
  });
  const env = cliEnv(ctx.server.address, { PATH: `${bin}:${process.env.PATH}` });
  expect((await runToEnd(ctx, 'vf-1', file, env)).state).toBe('completed');

  const verify = (args: string[] = []) => cli(['verify', 'vf-1', ...args], env, ctx.dir);
  const clean = verify();
  expect(clean.stdout).toMatch(/ok: every artifact matches its record/);
  expect(clean.status).toBe(0);

  const checkpoint = path.join(ctx.dir, 'artifacts', 'vf-1', 'iter-000', 'train', 'checkpoint');
  expect(fs.existsSync(path.join(checkpoint, 'model.safetensors'))).toBe(true);
  const cases: { what: string; change: () => () => void; expected: string; args?: string[] }[] = [
    {
      what: 'a file dropped into the checkpoint folder, verified with a relative --root',
      change: () => {
        const f = path.join(checkpoint, 'extra.bin');
        fs.writeFileSync(f, 'x');
        return () => fs.rmSync(f);
      },
      args: ['--root', 'artifacts'],
      expected: `unexpected ${path.join(checkpoint, 'extra.bin')} (no record names it)\nNOT OK: 0 missing, 0 changed, 1 unexpected`,
    },
    {
      what: 'a file dropped into the accepted checkpoint folder',
      change: () => {
        const f = path.join(checkpoint, 'extra.bin');
        fs.writeFileSync(f, 'x');
        return () => fs.rmSync(f);
      },
      expected: `unexpected ${path.join(checkpoint, 'extra.bin')}`,
    },
    {
      what: 'a symbolic link dropped into a subfolder of it',
      change: () => {
        fs.mkdirSync(path.join(checkpoint, 'sub'));
        fs.symlinkSync(path.join(policy, 'model.safetensors'), path.join(checkpoint, 'sub', 'weights.bin'));
        return () => fs.rmSync(path.join(checkpoint, 'sub'), { recursive: true });
      },
      expected: `unexpected ${path.join(checkpoint, 'sub', 'weights.bin')}`,
    },
    {
      what: 'a file of it edited',
      change: () => {
        const f = path.join(checkpoint, 'config.json');
        const saved = fs.readFileSync(f);
        fs.writeFileSync(f, '{"model_type":"other"}');
        return () => fs.writeFileSync(f, saved);
      },
      expected: `changed    ${path.join(checkpoint, 'config.json')}`,
    },
    {
      what: 'a file dropped into the initial policy folder',
      change: () => {
        const f = path.join(policy, 'adapter_model.safetensors');
        fs.writeFileSync(f, 'x');
        return () => fs.rmSync(f);
      },
      expected: `unexpected ${path.join(policy, 'adapter_model.safetensors')}`,
    },
    {
      what: "the reward model's weights swapped",
      change: () => {
        const f = path.join(rm, 'model.onnx');
        const saved = fs.readFileSync(f);
        fs.copyFileSync(path.join(BENCH_RM, 'model.onnx'), f);
        return () => fs.writeFileSync(f, saved);
      },
      expected: `changed    ${path.join(rm, 'model.onnx')}`,
    },
    {
      what: 'the prompts file edited',
      change: () => {
        const saved = fs.readFileSync(prompts);
        fs.appendFileSync(prompts, '{"prompt": "one more"}\n');
        return () => fs.writeFileSync(prompts, saved);
      },
      expected: `changed    ${prompts}`,
    },
  ];
  for (const c of cases) {
    const undo = c.change();
    const r = verify(c.args);
    undo();
    expect({ what: c.what, status: r.status, found: r.stdout.includes(c.expected) }).toEqual({ what: c.what, status: 1, found: true });
  }
  expect(verify().status).toBe(0);
  expect(verify(['--root', 'artifacts']).status).toBe(0);
});
