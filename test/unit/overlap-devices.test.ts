/** `validate` warns when overlapping iterations would put a managed sampler's server and a command trainer on the same GPU. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, ROOT, tmpDir } from '../helpers/paths';

const dir = tmpDir('alignloop-overlap-devices-');
const policy = path.join(dir, 'policy');
fs.mkdirSync(policy);
fs.writeFileSync(path.join(policy, 'config.json'), '{}');
fs.writeFileSync(path.join(policy, 'model.safetensors'), 'x');
fs.writeFileSync(path.join(policy, 'tokenizer.json'), '{"model": {}}');
fs.writeFileSync(path.join(policy, 'tokenizer_config.json'), JSON.stringify({ chat_template: '{{ messages }}' }));

function validate(name: string, o: { lag?: number; sampler?: string; trainer?: string }) {
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(
    file,
    [
      `name: ${name}`,
      'iterations: 2',
      `prompts: { path: ${path.join(ROOT, 'examples', 'quickstart', 'prompts.jsonl')}, perIteration: 8 }`,
      `policy: { path: ${policy} }`,
      `sampler: { kind: managed, command: ["vllm", "serve", "{{policy.path}}", "--port", "{{port}}"], model: policy${o.sampler ?? ''} }`,
      `labeler: { kind: reward-model, model: ${path.join(ROOT, 'examples', 'quickstart', 'reward-model')} }`,
      'feedback: { type: pairwise }',
      `trainer: { kind: command, preset: trl, method: dpo, reference: previous${o.trainer ?? ''} }`,
      o.lag === undefined ? '' : `schedule: { maxPolicyLag: ${o.lag} }`,
    ].join('\n') + '\n',
  );
  return spawnSync(process.execPath, [CLI, 'validate', file], { encoding: 'utf8', env: { ...process.env, TEMPORAL_ADDRESS: '' } });
}

const WARNING =
  /warning: schedule\.maxPolicyLag 1 runs the sampler's server while the trainer trains, and sampler\.env and trainer\.env both name CUDA_VISIBLE_DEVICES (\S+):/;

test('a managed sampler and a command trainer naming a shared GPU, iterations overlapping: a warning naming the device; still valid', () => {
  const r = validate('shared', { lag: 1, sampler: ', env: { CUDA_VISIBLE_DEVICES: "0,1" }', trainer: ', env: { CUDA_VISIBLE_DEVICES: " 1 " }' });
  expect(r.status).toBe(0);
  expect(WARNING.exec(r.stderr)?.[1]).toBe('1');
});

test('no warning with separate devices, or with iterations one after another', () => {
  const separate = validate('separate', { lag: 1, sampler: ', env: { CUDA_VISIBLE_DEVICES: "0" }', trainer: ', env: { CUDA_VISIBLE_DEVICES: "1" }' });
  expect(separate.status).toBe(0);
  expect(separate.stderr).not.toMatch(/CUDA_VISIBLE_DEVICES/);
  const sequential = validate('sequential', { lag: 0, sampler: ', env: { CUDA_VISIBLE_DEVICES: "0" }', trainer: ', env: { CUDA_VISIBLE_DEVICES: "0" }' });
  expect(sequential.status).toBe(0);
  expect(sequential.stderr).not.toMatch(/CUDA_VISIBLE_DEVICES/);
});

test('schedule.maxPolicyLag accepts 0, 1 and 2 only, with a message naming the setting', () => {
  const r = validate('lag3', { lag: 3 });
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(/schedule\.maxPolicyLag: at most 2/);
});
