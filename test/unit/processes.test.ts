/** Supervised subprocesses, command templates, imported sampler output and checkpoint references. */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ArtifactError } from '../../config/errors';
import { sha256File } from '../../activities/artifacts/atomic-file';
import { describeCheckpoint, resolvePolicy } from '../../activities/policy/checkpoint-ref';
import { placeholdersOf, renderArgv } from '../../activities/process/argv-template';
import { childEnv, credentialNames } from '../../activities/process/child-env';
import { reapOrphans, Supervised } from '../../activities/process/supervisor';
import { importSamples } from '../../activities/samplers/import-samples';
import { promptId, PromptRecord } from '../../activities/prompts';
import { ROOT, tmpDir } from '../helpers/paths';

jest.setTimeout(60_000);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z');
  } catch {
    return false;
  }
};
const until = async (what: string, fn: () => boolean, ms = 10000) => {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('command templates', () => {
  test('each argument is rendered on its own; an unknown placeholder names the setting, the index and the allowed names', () => {
    expect(renderArgv(['serve', '{{policy.path}}', '--port={{port}}'], { 'policy.path': '/m/a b', port: '8001' }, 'sampler.command')).toEqual([
      'serve',
      '/m/a b',
      '--port=8001',
    ]);
    expect(() => renderArgv(['x', '{{nope}}'], { port: '1' }, 'sampler.command')).toThrow('sampler.command[1]: unknown placeholder {{nope}}; use {{port}}');
    expect(placeholdersOf(['{{ a }}', '{{b.c}}-{{a}}'])).toEqual(['a', 'b.c']);
  });
});

describe('supervised processes', () => {
  test('stop ends the whole process group (children too), even one that ignores SIGTERM', async () => {
    const dir = tmpDir('alignloop-sup-');
    const script =
      "process.on('SIGTERM', () => {}); require('child_process').spawn(process.execPath, ['-e', 'setInterval(()=>{},1000)'], { stdio: 'ignore' }); console.log('up'); setInterval(() => {}, 1000);";
    const p = await Supervised.start({
      argv: [process.execPath, '-e', script],
      env: process.env,
      log: path.join(dir, 'x.log'),
      registry: path.join(dir, 'reg'),
      label: 't',
      setting: 's',
    });
    await until('log line', () => fs.readFileSync(path.join(dir, 'x.log'), 'utf8').includes('up'));
    expect(fs.readdirSync(path.join(dir, 'reg'))).toHaveLength(1);
    await p.stop(300);
    expect(() => process.kill(-p.pid, 0)).toThrow();
    expect(fs.readdirSync(path.join(dir, 'reg'))).toHaveLength(0);
  });

  test('a command that does not exist is a clear error naming the setting', async () => {
    const dir = tmpDir('alignloop-sup-');
    await expect(
      Supervised.start({ argv: ['no-such-binary-xyz'], env: process.env, log: path.join(dir, 'x.log'), registry: dir, label: 't', setting: 'sampler.command' }),
    ).rejects.toThrow(/sampler.command: cannot start "no-such-binary-xyz" \(ENOENT\)/);
  });

  test('reapOrphans kills the group of a worker that was SIGKILLed, and leaves a live owner alone', async () => {
    const dir = tmpDir('alignloop-sup-');
    const reg = path.join(dir, 'reg');
    const sup = path.join(ROOT, 'dist', 'activities', 'process', 'supervisor.js');
    const ownerScript = `require(${JSON.stringify(sup)}).Supervised.start({ argv: [process.execPath, '-e', 'setInterval(()=>{},1000)'], env: process.env, log: ${JSON.stringify(
      path.join(dir, 'o.log'),
    )}, registry: ${JSON.stringify(reg)}, label: 'orphan', setting: 's' }).then((p) => { console.log(p.pid); setInterval(() => {}, 1000); });`;
    const owner = spawn(process.execPath, ['-e', ownerScript], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pid = await new Promise<number>((r) => owner.stdout!.once('data', (d) => r(Number(String(d).trim()))));
    const mine = await Supervised.start({
      argv: [process.execPath, '-e', 'setInterval(()=>{},1000)'],
      env: process.env,
      log: path.join(dir, 'm.log'),
      registry: reg,
      label: 'mine',
      setting: 's',
    });
    expect(await reapOrphans(reg, 500)).toEqual([]); // both owners alive
    owner.kill('SIGKILL');
    await new Promise((r) => owner.once('exit', r));
    expect(alive(pid)).toBe(true); // its own group: it outlives the worker
    const reaped = await reapOrphans(reg, 500);
    expect(reaped.map((r) => r.pid)).toEqual([pid]);
    await until('orphan gone', () => !alive(pid));
    expect(alive(mine.pid)).toBe(true);
    await mine.stop(500);
    expect(fs.readdirSync(reg)).toEqual([]);
  });
});

describe('importing sampler output', () => {
  const shard: PromptRecord[] = ['What is 2+2?', 'Name a colour.'].map((q) => {
    const prompt = [{ role: 'user', content: q }];
    return { prompt_id: promptId(prompt), prompt };
  });

  test("HALOs' JSON array: integer prompt_ids ignored, re-keyed by the prompt's turns, sample order kept, turn-list outputs read", async () => {
    const file = path.join(tmpDir(), 'out.json');
    fs.writeFileSync(
      file,
      JSON.stringify([
        { prompt_id: 0, prompt: shard[1].prompt, output: 'blue', sample_id: 1, type: 'sample' },
        { prompt_id: 0, prompt: shard[1].prompt, output: [{ role: 'assistant', content: 'red' }], sample_id: 0, type: 'sample' },
        { prompt_id: 1, prompt: shard[0].prompt, output: '4', sample_id: 0, finish_reason: 'length', dataset: 'd' },
      ]),
    );
    const r = await importSamples(file, 'auto', shard);
    expect(r.format).toBe('halos');
    expect(r.byPrompt.get(shard[1].prompt_id)!.map((s) => s.output)).toEqual(['red', 'blue']);
    expect(r.byPrompt.get(shard[0].prompt_id)![0]).toMatchObject({ output: '4', truncated: true, extra: { dataset: 'd', finish_reason: 'length' } });
  });

  test('JSONL with string prompt_ids of the shard, or plain-string prompts', async () => {
    const file = path.join(tmpDir(), 'out.jsonl');
    fs.writeFileSync(
      file,
      [
        { prompt_id: shard[0].prompt_id, output: 'four' },
        { prompt: 'Name a colour.', output: 'green' },
      ]
        .map((x) => JSON.stringify(x))
        .join('\n'),
    );
    const r = await importSamples(file, 'jsonl', shard);
    expect(r.format).toBe('jsonl');
    expect(r.byPrompt.get(shard[0].prompt_id)![0].output).toBe('four');
    expect(r.byPrompt.get(shard[1].prompt_id)![0].output).toBe('green');
  });

  test.each([
    ['a prompt not in the shard', [{ prompt: 'Something else', output: 'x' }], /out.jsonl:1: its prompt \("Something else"\) is not one of the 2 prompts/],
    ['an integer prompt_id and no prompt', [{ prompt_id: 3, output: 'x' }], /out.jsonl:1: no "prompt", and no prompt_id of this shard/],
    ['a missing output', [{ prompt: 'What is 2+2?' }], /out.jsonl:1: output must be a string/],
    ['a bad sample_id', [{ prompt: 'What is 2+2?', output: 'x', sample_id: -1 }], /sample_id must be an integer >= 0/],
  ])('refused: %s, with file and line', async (_what, records, message) => {
    const file = path.join(tmpDir(), 'out.jsonl');
    fs.writeFileSync(file, records.map((x) => JSON.stringify(x)).join('\n'));
    await expect(importSamples(file, 'auto', shard)).rejects.toThrow(message);
  });

  test('format mismatch and empty output are named', async () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'a.json'), '[]');
    await expect(importSamples(path.join(dir, 'a.json'), 'jsonl', shard)).rejects.toThrow(/sampler.format is jsonl but the file is a JSON array/);
    fs.writeFileSync(path.join(dir, 'e.json'), '  \n');
    await expect(importSamples(path.join(dir, 'e.json'), 'auto', shard)).rejects.toThrow(/wrote an empty output file/);
  });
});

describe('checkpoint references', () => {
  test('a folder checkpoint resolves to its path; a changed file is refused before use, naming it', () => {
    const dir = tmpDir('alignloop-ckpt-');
    const model = path.join(dir, 'model');
    fs.mkdirSync(model);
    fs.writeFileSync(path.join(model, 'config.json'), '{}');
    fs.writeFileSync(path.join(model, 'model.safetensors'), 'weights');
    const d = describeCheckpoint(model, { name: 'initial', parent: null, iteration: null });
    const file = path.join(dir, 'policy.json');
    fs.writeFileSync(file, JSON.stringify(d));
    const ref = { path: file, sha256: sha256File(file), count: 1, bytes: 0 };
    expect(resolvePolicy(ref, 'policy checkpoint', 'x')).toEqual({ path: model, name: 'initial', sha256: d.sha256 });
    fs.writeFileSync(path.join(model, 'model.safetensors'), 'other weights');
    expect(() => resolvePolicy(ref, 'policy checkpoint', 'x')).toThrow(ArtifactError);
    expect(() => resolvePolicy(ref, 'policy checkpoint', 'x')).toThrow(/model.safetensors: [0-9a-f]{12} -> [0-9a-f]{12}/);
  });
});

describe('subprocess environment', () => {
  test("a step's subprocess loses every apiKeyEnv the campaign names and TEMPORAL_*, unless it inherits them; its env goes on top", () => {
    const campaign = {
      sampler: { kind: 'openai', apiKeyEnv: 'SAMPLER_KEY' },
      labeler: { kind: 'judge', apiKeyEnv: 'JUDGE_KEY' },
    };
    const worker = { PATH: '/bin', SAMPLER_KEY: 's', JUDGE_KEY: 'j', OPENAI_API_KEY: 'o', TEMPORAL_API_KEY: 't', TEMPORAL_ADDRESS: 'a', HF_HOME: '/h' };
    expect(childEnv(credentialNames(campaign), { env: { EXTRA: '1' } }, worker)).toEqual({ PATH: '/bin', HF_HOME: '/h', EXTRA: '1' });
    expect(childEnv(credentialNames(campaign), { env: {}, inheritEnv: ['JUDGE_KEY', 'TEMPORAL_ADDRESS'] }, worker)).toEqual({
      PATH: '/bin',
      HF_HOME: '/h',
      JUDGE_KEY: 'j',
      TEMPORAL_ADDRESS: 'a',
    });
  });

  test("the artifact store's AWS credentials stay with the worker unless the step inherits them; the region and profile name pass", () => {
    const campaign = { sampler: { kind: 'builtin' }, labeler: { kind: 'reward-model' } };
    const worker = { PATH: '/bin', AWS_ACCESS_KEY_ID: 'AKIA', AWS_SECRET_ACCESS_KEY: 'secret', AWS_SESSION_TOKEN: 'tok', AWS_REGION: 'eu-west-1' };
    expect(childEnv(credentialNames(campaign), { env: {} }, worker)).toEqual({ PATH: '/bin', AWS_REGION: 'eu-west-1' });
    expect(childEnv(credentialNames(campaign), { env: {}, inheritEnv: ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] }, worker)).toEqual({
      PATH: '/bin',
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'AKIA',
      AWS_SECRET_ACCESS_KEY: 'secret',
    });
  });
});
