import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AlignloopError, ERROR_KINDS, EXIT, InputError, JudgeBudgetExhausted, NON_RETRYABLE_ERROR_TYPES, UserError } from '../../config/errors';
import { CLI, ROOT, tmpDir } from '../helpers/paths';

describe('one error model', () => {
  test('the non-retryable list is exactly the kinds marked non-retryable', () => {
    for (const [name, kind] of Object.entries(ERROR_KINDS)) expect(NON_RETRYABLE_ERROR_TYPES.includes(name)).toBe(!kind.retryable);
    expect(NON_RETRYABLE_ERROR_TYPES).toEqual(
      expect.arrayContaining(['InputError', 'ConfigError', 'ModelFolderError', 'JudgeBudgetExhausted', 'InvariantViolation']),
    );
    expect(NON_RETRYABLE_ERROR_TYPES).not.toContain('JudgeBatchPending');
  });

  test('errors carry their kind, exit code and details', () => {
    const e = new InputError('p.jsonl', 3, 'not valid JSON', 'fix the line');
    expect(e).toBeInstanceOf(AlignloopError);
    expect(e.name).toBe('InputError');
    expect(e.message).toBe('p.jsonl:3: not valid JSON (fix the line)');
    expect(e.exitCode).toBe(EXIT.usage);
    expect(e.retryable).toBe(false);
    expect(new JudgeBudgetExhausted('spent', 1.5).details()).toEqual([{ spentUsd: 1.5 }]);
    expect(new UserError('x', EXIT.emptyResult).exitCode).toBe(EXIT.emptyResult);
  });
});

describe('CLI', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, TEMPORAL_ADDRESS: '' } });
  const commands = [
    'run',
    'start',
    'validate',
    'status',
    'list',
    'pause',
    'resume',
    'stop',
    'history',
    'worker',
    'dev-server',
    'score',
    'judge',
    'feedback',
    'help',
  ];

  test('--help for the program and every command exits 0 and names the command', () => {
    const top = run('--help');
    expect(top.status).toBe(0);
    for (const c of commands.filter((x) => x !== 'help')) expect(top.stdout).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
    for (const c of commands) {
      const r = run(c, '--help');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^Usage: alignloop /);
    }
    expect(run('feedback', 'build', '--help').stdout).toMatch(/--threshold <x>/);
  });

  test.each([
    [['bogus'], /unknown command 'bogus'/],
    [['score', '--model', 'm'], /required option '--in <file>' not specified/],
    [['score', '--model', 'm', '--in', 'a', '--out', 'b', '--threads', 'two'], /--threads <n>.*must be a non-negative integer, got "two"/],
    [['feedback', 'build', '--in', 'a', '--out', 'b', '--type', 'pairs', '--format', 'halos'], /must be one of pairwise, binary, scalar/],
    [['resume', 'x', '--budget', '-1'], /must be a positive number/],
    [['validate'], /missing required argument 'file'/],
    [['validate', '/nonexistent/campaign.yaml'], /file not found/],
  ])('%j: one line on stderr, exit 2, no stack trace', (args, message) => {
    const r = run(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^alignloop: /);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  test('no arguments prints the help and exits 2', () => {
    const r = run();
    expect(r.status).toBe(2);
    expect(r.stdout).toMatch(/^Usage: alignloop/);
  });
});

describe('Temporal environment configuration', () => {
  const dir = tmpDir();
  const toml = path.join(dir, 'temporal.toml');
  fs.writeFileSync(toml, '[profile.default]\nnamespace = "ns1"\n\n[profile.remote]\naddress = "127.0.0.1:1"\nnamespace = "team"\n');
  const home = path.join(dir, 'home');
  const run = (profile: string) => {
    const env: NodeJS.ProcessEnv = { ...process.env, TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: profile, ALIGNLOOP_HOME: home };
    delete env.TEMPORAL_ADDRESS;
    return spawnSync(process.execPath, [CLI, 'list'], { encoding: 'utf8', env });
  };

  test('a profile that names a server is used, never the embedded one; unreachable is one line with the address', () => {
    const r = run('remote');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^alignloop: cannot reach Temporal at 127\.0\.0\.1:1 .*check TEMPORAL_ADDRESS/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(fs.existsSync(home)).toBe(false); // nothing embedded was started
  });

  test('a missing profile, or one without an address, is a configuration error', () => {
    expect(run('nope').stderr).toMatch(/Profile 'nope' not found/);
    expect(run('nope').status).toBe(2);
    const r = run('default');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/profile "default" names no address/);
    expect(fs.existsSync(home)).toBe(false);
  });
});

describe('sampling examples', () => {
  test.each(['vllm', 'llama-cpp'])('examples/%s/campaign.yaml is valid (its server not running here is only a warning)', (name) => {
    const r = spawnSync(process.execPath, [CLI, 'validate', path.join(ROOT, 'examples', name, 'campaign.yaml')], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/openai sampler/);
    expect(r.stderr.split('\n').filter((l) => l && !l.startsWith('warning: '))).toEqual([]);
  });

  test.each([
    ['vllm-managed', 'managed', /vllm/],
    ['halos-sample', 'command', /python/],
    ['trl', 'managed', /vllm/],
    ['halos-train', 'managed', /vllm/],
    ['openrlhf', 'managed', /vllm/],
  ])('examples/%s/campaign.yaml is valid once policy.path names a model folder', (name, kind, cmd) => {
    const dir = tmpDir('alignloop-example-');
    const model = path.join(dir, 'my-policy');
    fs.mkdirSync(model);
    fs.writeFileSync(path.join(model, 'config.json'), '{}');
    fs.writeFileSync(path.join(model, 'model.safetensors'), 'w');
    fs.writeFileSync(path.join(model, 'tokenizer.json'), '{}');
    fs.writeFileSync(path.join(model, 'chat_template.jinja'), "{% for m in messages %}{{ m['content'] }}{% endfor %}");
    const halos = path.join(dir, 'HALOs');
    fs.mkdirSync(halos);
    fs.writeFileSync(path.join(halos, 'launch.py'), '');
    const text = fs
      .readFileSync(path.join(ROOT, 'examples', name, 'campaign.yaml'), 'utf8')
      .replace('/models/my-policy', model)
      .replace('/opt/HALOs', halos)
      .replaceAll('../quickstart', path.join(ROOT, 'examples', 'quickstart'));
    const file = path.join(dir, 'campaign.yaml');
    fs.writeFileSync(file, text);
    const r = spawnSync(process.execPath, [CLI, 'validate', file], { encoding: 'utf8', env: { ...process.env, PATH: '/nonexistent' } });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`${kind} sampler`);
    // The server or sampler is not installed here: a warning, since the sample workers run it.
    expect(r.stderr).toMatch(new RegExp(`warning: sampler.command\\[0\\] "${cmd.source}" is not on this PATH`));
    // Without the folder, the campaign is refused, naming the setting.
    fs.rmSync(model, { recursive: true });
    const bad = spawnSync(process.execPath, [CLI, 'validate', file], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/policy.path: not found: .*my-policy; point it at the initial model folder/);
    expect(bad.stderr.split('\n').filter((l) => l.startsWith('  - '))).toHaveLength(1);
  });
});
