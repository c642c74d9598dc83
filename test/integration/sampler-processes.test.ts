/**
 * Samplers that run processes: `managed` (alignloop starts an inference server per iteration) and
 * `command` (an offline sampler such as HALOs' sample.py, whose output is imported). The server and
 * the sampler are real subprocesses (test/fakes/policy-server-main.ts, test/fakes/halos-sample.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { campaignStatusQuery } from '../../workflows/messages';
import { QUICKSTART_PROMPTS, ROOT } from '../helpers/paths';
import { cli, cliEnv, killHard, samplesOf as samplesOfIn, spawnWorker, useTestServer, waitFor, writeCampaign } from '../helpers/temporal';

jest.setTimeout(600_000);

const ctx = useTestServer('alignloop-sampler-proc-');
const FAKE_SERVER = path.join(ROOT, 'dist', 'test', 'fakes', 'policy-server-main.js');
const FAKE_HALOS = path.join(ROOT, 'dist', 'test', 'fakes', 'halos-sample.js');

/** A model folder as a trainer writes one (the fakes only check config.json). */
function modelFolder(name: string): string {
  const dir = path.join(ctx.dir, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'llama', hidden_size: 8 }));
  fs.writeFileSync(path.join(dir, 'model.safetensors'), Buffer.alloc(64, 7));
  return dir;
}

/** Live processes whose command line mentions `marker` (the policy folder every server and sampler is handed). */
function processesMentioning(marker: string): number[] {
  const out: number[] = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const state = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
      if (cmd.includes(marker) && state !== 'Z') out.push(Number(pid));
    } catch {
      /* gone */
    }
  }
  return out;
}

function managed(policyName: string, extraArgs: string[] = [], extra = ''): { sampler: string; extra: string } {
  const argv = [
    'node',
    FAKE_SERVER,
    '{{policy.path}}',
    '--port',
    '{{port}}',
    '--served-model-name',
    'policy',
    '--candidates',
    QUICKSTART_PROMPTS,
    ...extraArgs,
  ];
  return {
    sampler: `{ kind: managed, command: ${JSON.stringify(argv)}, samplesPerPrompt: 4, maxTokens: 256, seed: 11, timeoutSeconds: 5, stopTimeoutSeconds: 3${extra.includes('readyTimeoutSeconds') ? '' : ', readyTimeoutSeconds: 60'}${extra} }`,
    extra: `policy: { path: ${modelFolder(policyName)} }`,
  };
}

function command(policyName: string, extraArgs: string[] = [], extra = ''): { sampler: string; extra: string } {
  const argv = [
    'node',
    FAKE_HALOS,
    '{{policy.path}}',
    '--datasets',
    '{{prompts.json}}',
    '--output_file',
    '{{out}}',
    '--num_samples_per_prompt',
    '{{samplesPerPrompt}}',
    ...extraArgs,
  ];
  return {
    sampler: `{ kind: command, command: ${JSON.stringify(argv)}, samplesPerPrompt: 3${extra} }`,
    extra: `policy: { path: ${modelFolder(policyName)} }`,
  };
}

const samplesOf = (id: string, iteration = 0) => samplesOfIn(ctx, id, iteration);

const registry = (id: string) => {
  const dir = path.join(ctx.dir, 'artifacts', id, 'processes');
  return fs.existsSync(dir) ? fs.readdirSync(dir).flatMap((h) => fs.readdirSync(path.join(dir, h)).map((f) => path.join(dir, h, f))) : [];
};

async function expectFailedPaused(id: string, env: NodeJS.ProcessEnv): Promise<{ pauseReason: string; failure: Record<string, unknown> }> {
  const h = ctx.client.workflow.getHandle(id);
  await waitFor('failed-paused', async () => (await h.query(campaignStatusQuery).catch(() => null))?.state === 'failed-paused', 180000, 250);
  const s = await h.query(campaignStatusQuery);
  const st = cli(['status', id], env);
  expect(st.stdout).toMatch(/failed-paused/);
  return s as unknown as { pauseReason: string; failure: Record<string, unknown> };
}

describe('sampler.kind: managed', () => {
  test('a server per iteration from the command template: ready, sampled, logged in the artifacts, stopped when sampling ends', async () => {
    const m = managed('policy-a', ['--spawn-child']);
    const file = writeCampaign(ctx.dir, 'managed', { iterations: 2, perIteration: 8, sampler: m.sampler, extra: m.extra, trainer: '{ kind: none }' });
    const env = cliEnv(ctx.server.address);
    const worker = spawnWorker(env);
    try {
      expect(cli(['start', file, '--id', 'managed-1'], env).status).toBe(0);
      const result = await ctx.client.workflow.getHandle('managed-1').result();
      expect(result.state).toBe('completed');
      for (const it of [0, 1]) {
        const recs = samplesOf('managed-1', it);
        expect(recs).toHaveLength(32);
        for (const r of recs) expect(r).toMatchObject({ model: 'policy', finish_reason: 'stop', iteration: it });
        const logs = fs.readdirSync(path.join(ctx.dir, 'artifacts', 'managed-1', `iter-00${it}`, 'samples', 'server'));
        expect(logs.length).toBeGreaterThanOrEqual(1);
        const log = fs.readFileSync(path.join(ctx.dir, 'artifacts', 'managed-1', `iter-00${it}`, 'samples', 'server', logs[0]), 'utf8');
        expect(log).toContain(`loading ${path.join(ctx.dir, 'policy-a')}`);
        expect(log).toMatch(/SIGTERM/); // stopped cleanly at the end of the iteration's sampling
      }
      // Stopped with its child process (same group), and nothing left in the registry.
      await waitFor('servers gone', () => processesMentioning(path.join(ctx.dir, 'policy-a')).length === 0 || null, 20000, 100);
      expect(registry('managed-1')).toEqual([]);
      const policy = JSON.parse(fs.readFileSync(path.join(ctx.dir, 'artifacts', 'managed-1', 'initial', 'policy.json'), 'utf8'));
      expect(policy).toMatchObject({ format: 'alignloop-checkpoint/1', path: path.join(ctx.dir, 'policy-a'), files: { 'config.json': expect.any(String) } });
    } finally {
      await killHard(worker);
    }
  });

  test('SIGKILL the worker while its server samples: the next attempt reaps the orphan, nothing is asked twice, no process is left', async () => {
    const served = path.join(ctx.dir, 'served-kill.log');
    const m = managed('policy-kill', ['--latency-ms', '150', '--served-log', served]);
    const file = writeCampaign(ctx.dir, 'managed-kill', {
      iterations: 1,
      perIteration: 24,
      promptsPerShard: 24,
      sampler: m.sampler.replace(' }', ', limits: { maxInFlight: 2 } }'),
      extra: m.extra,
      trainer: '{ kind: none }',
    });
    const env = cliEnv(ctx.server.address);
    let worker = spawnWorker(env);
    const lines = () => (fs.existsSync(served) ? fs.readFileSync(served, 'utf8').split('\n').filter(Boolean) : []);
    try {
      expect(cli(['start', file, '--id', 'mkill-1'], env).status).toBe(0);
      await waitFor('a third of the samples', () => lines().length >= 32, 120000, 20);
      await killHard(worker);
      const orphans = processesMentioning(path.join(ctx.dir, 'policy-kill'));
      expect(orphans.length).toBe(1); // the server outlived its worker (own process group)
      expect(registry('mkill-1')).toHaveLength(1);
      worker = spawnWorker(env);
      expect((await ctx.client.workflow.getHandle('mkill-1').result()).state).toBe('completed');
      for (const pid of orphans) expect(fs.existsSync(`/proc/${pid}`) && !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z')).toBe(false);
      const counts = new Map<string, number>();
      for (const l of lines()) counts.set(l, (counts.get(l) ?? 0) + 1);
      expect(counts.size).toBe(96);
      // Only what was in flight at the kill (2 requests x 4 samples) may have been served twice.
      expect([...counts.values()].filter((c) => c > 1).length).toBeLessThanOrEqual(8);
      expect(samplesOf('mkill-1')).toHaveLength(96);
      await waitFor('servers gone', () => processesMentioning(path.join(ctx.dir, 'policy-kill')).length === 0 || null, 20000, 100);
      expect(registry('mkill-1')).toEqual([]);
    } finally {
      await killHard(worker);
    }
  });

  test('a server that exits at once, or never gets ready, pauses the campaign with its log tail; nothing is left running', async () => {
    const env = cliEnv(ctx.server.address);
    const worker = spawnWorker(env);
    try {
      const bad = managed('policy-oom', ['--fail-at-start']);
      const f1 = writeCampaign(ctx.dir, 'managed-oom', { iterations: 1, perIteration: 4, sampler: bad.sampler, extra: bad.extra, trainer: '{ kind: none }' });
      expect(cli(['start', f1, '--id', 'moom-1'], env).status).toBe(0);
      const s1 = await expectFailedPaused('moom-1', env);
      expect(s1.failure).toMatchObject({ stage: 'sample', errorType: 'ProcessFailed', attempt: 1 });
      expect(s1.pauseReason).toMatch(/managed server exited with code 3 before it became ready/);
      expect(s1.pauseReason).toMatch(/CUDA out of memory while loading the model/);
      expect(fs.existsSync(path.join(ctx.dir, 'artifacts', 'moom-1', 'iter-000', 'samples', 'shard-000.jsonl'))).toBe(false);

      const slow = managed('policy-slow', ['--loading-ms', '100000000', '--ignore-sigterm'], ', readyTimeoutSeconds: 2');
      const f2 = writeCampaign(ctx.dir, 'managed-slow', {
        iterations: 1,
        perIteration: 4,
        sampler: slow.sampler,
        extra: slow.extra,
        trainer: '{ kind: none }',
      });
      expect(cli(['start', f2, '--id', 'mslow-1'], env).status).toBe(0);
      const s2 = await expectFailedPaused('mslow-1', env);
      expect(s2.pauseReason).toMatch(/sampler.readyTimeoutSeconds: the managed server was not ready after 2 s \(last: .*health answered HTTP 503\)/);
      expect(s2.pauseReason).toMatch(/listening at http:\/\/127.0.0.1/);
      // It ignored SIGTERM: the group was SIGKILLed.
      await waitFor('server gone', () => processesMentioning(path.join(ctx.dir, 'policy-slow')).length === 0 || null, 20000, 100);
      expect(registry('mslow-1')).toEqual([]);
    } finally {
      await killHard(worker);
    }
  });
});

describe('sampler.kind: managed with a server like `transformers serve`', () => {
  test('no usable /v1/models and the model served under its path: ready through a 1-token request; the wrong sampler.model pauses naming the fix', async () => {
    const env = cliEnv(ctx.server.address);
    const worker = spawnWorker(env);
    try {
      const ok = managed('policy-hf', ['--like-transformers-serve'], ', model: "{{policy.path}}"');
      const f1 = writeCampaign(ctx.dir, 'managed-hf', { iterations: 1, perIteration: 8, sampler: ok.sampler, extra: ok.extra, trainer: '{ kind: none }' });
      expect(cli(['start', f1, '--id', 'mhf-1'], env).status).toBe(0);
      expect((await ctx.client.workflow.getHandle('mhf-1').result()).state).toBe('completed');
      const recs = samplesOf('mhf-1');
      expect(recs).toHaveLength(32); // `n` ignored by the server: asked one sample per request instead
      expect(new Set(recs.map((r) => r.model))).toEqual(new Set([path.join(ctx.dir, 'policy-hf')]));

      const wrong = managed('policy-hf2', ['--like-transformers-serve'], ', readyTimeoutSeconds: 3');
      const f2 = writeCampaign(ctx.dir, 'managed-hf2', {
        iterations: 1,
        perIteration: 4,
        sampler: wrong.sampler,
        extra: wrong.extra,
        trainer: '{ kind: none }',
      });
      expect(cli(['start', f2, '--id', 'mhf-2'], env).status).toBe(0);
      const s = await expectFailedPaused('mhf-2', env);
      expect(s.pauseReason).toMatch(/models answered HTTP 500, and a 1-token request for "policy" answered HTTP 400 .*Server is pinned to/);
      expect(s.pauseReason).toMatch(/"\{\{policy.path\}\}" for a server that serves a model under its path/);
      await waitFor('server gone', () => processesMentioning(path.join(ctx.dir, 'policy-hf2')).length === 0 || null, 20000, 100);
    } finally {
      await killHard(worker);
    }
  });
});

describe('sampler.kind: command', () => {
  test("HALOs' sample.py output is imported: re-keyed by prompt, sample ids per prompt, truncated samples dropped and counted", async () => {
    const c = command('policy-halos', ['--truncate-first']);
    const file = writeCampaign(ctx.dir, 'halos', { iterations: 2, perIteration: 8, sampler: c.sampler, extra: c.extra, trainer: '{ kind: none }' });
    const env = cliEnv(ctx.server.address);
    const worker = spawnWorker(env);
    try {
      expect(cli(['start', file, '--id', 'halos-1'], env).status).toBe(0);
      expect((await ctx.client.workflow.getHandle('halos-1').result()).state).toBe('completed');
      const prompts = fs
        .readdirSync(path.join(ctx.dir, 'artifacts', 'halos-1', 'iter-000', 'prompts'))
        .filter((f) => f.endsWith('.jsonl'))
        .flatMap((f) =>
          fs
            .readFileSync(path.join(ctx.dir, 'artifacts', 'halos-1', 'iter-000', 'prompts', f), 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l).prompt_id as string),
        );
      const recs = samplesOf('halos-1');
      expect(recs).toHaveLength(16); // 8 prompts x 3 samples, the first of each truncated and dropped
      expect(new Set(recs.map((r) => r.prompt_id))).toEqual(new Set(prompts));
      for (const r of recs) {
        expect(r.prompt_id).toMatch(/^p_[0-9a-f]{16}$/);
        expect([1, 2]).toContain(r.sample_id);
        expect(r).toMatchObject({ imported_format: 'halos', dataset: 'alignloop', truncated: false });
        expect(r.output).toContain('policy-halos answer');
      }
      const m = JSON.parse(fs.readFileSync(path.join(ctx.dir, 'artifacts', 'halos-1', 'iter-000', 'manifest.json'), 'utf8'));
      expect(m.counts).toMatchObject({ prompts_in: 8, prompts_sampled: 8, samples: 16 });
      expect(JSON.stringify(m)).toMatch(/"truncated":8/);
      const logs = fs.readdirSync(path.join(ctx.dir, 'artifacts', 'halos-1', 'iter-000', 'samples', 'command')).filter((f) => f.endsWith('.log'));
      expect(logs.length).toBe(2);
      expect(registry('halos-1')).toEqual([]);
    } finally {
      await killHard(worker);
    }
  });

  test('unknown prompts in the output, a command that exits at once, or one that writes nothing: the campaign pauses, nothing half-written', async () => {
    const env = cliEnv(ctx.server.address);
    const worker = spawnWorker(env);
    try {
      const cases: [string, string[], RegExp][] = [
        ['unknown', ['--unknown-prompt'], /record 13: its prompt \("a prompt nobody asked"\) is not one of the 4 prompts of this shard/],
        ['exits', ['--exit-code', '2'], /sampler.command exited with code 2[\s\S]*unrecognized arguments: --bogus/],
        ['nothing', ['--no-output'], /sampler.command exited 0 but wrote nothing at \{\{out\}\}/],
      ];
      for (const [name, args, message] of cases) {
        const c = command(`policy-${name}`, args);
        const file = writeCampaign(ctx.dir, `cmd-${name}`, { iterations: 1, perIteration: 4, sampler: c.sampler, extra: c.extra, trainer: '{ kind: none }' });
        expect(cli(['start', file, '--id', `cmd-${name}-1`], env).status).toBe(0);
        const s = await expectFailedPaused(`cmd-${name}-1`, env);
        expect(s.failure).toMatchObject({ stage: 'sample', attempt: 1 });
        expect(s.pauseReason).toMatch(message);
        expect(fs.existsSync(path.join(ctx.dir, 'artifacts', `cmd-${name}-1`, 'iter-000', 'samples', 'shard-000.jsonl'))).toBe(false);
      }
    } finally {
      await killHard(worker);
    }
  });

  test("the command gets the worker's environment without its credentials, except those its step inherits; validate warns about literal secrets", async () => {
    const dump = path.join(ctx.dir, 'sampler-env.json');
    // A real subprocess that records its environment, then samples like HALOs.
    const recorder = `require('fs').writeFileSync(${JSON.stringify(dump)}, JSON.stringify(process.env)); process.argv.splice(1, 0, ${JSON.stringify(FAKE_HALOS)}); require(${JSON.stringify(FAKE_HALOS)});`;
    const c = command('policy-env');
    const sampler = c.sampler
      .replace(`["node",${JSON.stringify(FAKE_HALOS)},`, `["node","-e",${JSON.stringify(recorder)},`)
      .replace(' }', ', env: { STEP_LITERAL: "yes", HF_TOKEN: "hf_abcdefghijklmnopqrstu" }, inheritEnv: [TEMPORAL_INHERITED] }');
    const file = writeCampaign(ctx.dir, 'cmd-env', { iterations: 1, perIteration: 4, sampler, extra: c.extra, trainer: '{ kind: none }' });
    const env = cliEnv(ctx.server.address, {
      OPENAI_API_KEY: 'sk-worker-secret-123456',
      TEMPORAL_TEST_CREDENTIAL: 'temporal-secret',
      TEMPORAL_INHERITED: 'asked-for',
      WORKER_PLAIN: 'plain',
    });
    const v = cli(['validate', file], env);
    expect(v.status).toBe(0);
    expect(v.stderr).toMatch(/warning: sampler\.env\.HF_TOKEN holds a literal that looks like a credential; it would be stored in the workflow history/);
    expect(v.stderr).not.toMatch(/STEP_LITERAL|hf_abc/);
    const worker = spawnWorker(env);
    try {
      expect(cli(['start', file, '--id', 'cmd-env-1'], env).status).toBe(0);
      expect((await ctx.client.workflow.getHandle('cmd-env-1').result()).state).toBe('completed');
    } finally {
      await killHard(worker);
    }
    const seen = JSON.parse(fs.readFileSync(dump, 'utf8')) as Record<string, string>;
    expect(seen.OPENAI_API_KEY).toBeUndefined();
    expect(seen.TEMPORAL_TEST_CREDENTIAL).toBeUndefined();
    expect(seen.TEMPORAL_ADDRESS).toBeUndefined();
    expect(seen).toMatchObject({ TEMPORAL_INHERITED: 'asked-for', WORKER_PLAIN: 'plain', STEP_LITERAL: 'yes' });
  });

  test('bad command templates are refused before anything runs', () => {
    const env = cliEnv(ctx.server.address);
    const c = command('policy-tpl');
    const bad = writeCampaign(ctx.dir, 'cmd-tpl', {
      iterations: 1,
      perIteration: 4,
      sampler: c.sampler.replace('{{samplesPerPrompt}}', '{{samples}}').replace('{{out}}', 'out.json'),
      extra: c.extra,
      trainer: '{ kind: none }',
    });
    const r = cli(['validate', bad], env);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/sampler.command: unknown placeholder \{\{samples\}\}/);
    expect(r.stderr).toMatch(/sampler.command: the command must write its samples to \{\{out\}\}/);
    const noPolicy = writeCampaign(ctx.dir, 'cmd-nopolicy', { iterations: 1, perIteration: 4, sampler: c.sampler, trainer: '{ kind: none }' });
    const r2 = cli(['validate', noPolicy], env);
    expect(r2.status).toBe(2);
    expect(r2.stderr).toMatch(/policy: a command sampler runs the policy checkpoint as \{\{policy.path\}\}/);
  });
});
