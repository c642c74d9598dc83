import * as fs from 'node:fs';
import * as path from 'node:path';
import { campaignStatusQuery } from '../../workflows/messages';
import { FakePolicyServer } from '../fakes/openai-policy-server';
import { QUICKSTART_PROMPTS } from '../helpers/paths';
import {
  cli,
  cliAsync,
  cliEnv,
  killHard,
  runToEnd,
  samplesOf as samplesOfIn,
  spawnWorker,
  stageRecords,
  useTestServer,
  waitFor,
  writeCampaign,
} from '../helpers/temporal';

jest.setTimeout(600_000);

const ctx = useTestServer('alignloop-sampler-');

/** The quickstart prompts' candidate pools, so the policy server answers with real candidates. */
function pools(): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const l of fs.readFileSync(QUICKSTART_PROMPTS, 'utf8').split('\n').filter(Boolean)) {
    const r = JSON.parse(l);
    const text = typeof r.prompt === 'string' ? r.prompt : r.prompt.filter((t: { role: string }) => t.role === 'user').at(-1).content;
    m.set(text, r.candidates);
  }
  return m;
}

const sampler = (s: FakePolicyServer, extra = '') =>
  `{ kind: openai, baseURL: ${s.baseURL}, model: policy, samplesPerPrompt: 4, maxTokens: 256, seed: 11, timeoutSeconds: 5${extra} }`;

const samplesOf = (id: string, iteration = 0) => samplesOfIn(ctx, id, iteration);
const runCampaign = (id: string, file: string, env = cliEnv(ctx.server.address)) => runToEnd(ctx, id, file, env);

describe('sampling from an OpenAI-compatible server', () => {
  test.each(['honour', 'ignore', 'refuse'] as const)('n %s: every sample asked for once, records carry finish_reason, tokens, model and server', async (n) => {
    const s = await new FakePolicyServer({ candidates: pools(), n }).start();
    try {
      const file = writeCampaign(ctx.dir, `n-${n}`, { iterations: 2, perIteration: 8, sampler: sampler(s), trainer: '{ kind: none, method: dpo }' });
      const result = await runCampaign(`n-${n}`, file);
      expect(result.state).toBe('completed');
      for (const it of [0, 1]) {
        const recs = samplesOf(`n-${n}`, it);
        expect(recs).toHaveLength(32);
        for (const r of recs) {
          expect(r).toMatchObject({ model: 'policy', base_url: s.baseURL, finish_reason: 'stop', truncated: false, iteration: it });
          expect(typeof r.output).toBe('string');
          expect((r.output as string).length).toBeGreaterThan(0);
          expect(r.completion_tokens).toBeGreaterThan(0);
        }
      }
      for (const count of s.stats.served.values()) expect(count).toBe(1);
      expect(s.stats.served.size).toBe(64);
      // n honoured: one request per prompt; otherwise one per sample (after one refused request per shard at most).
      if (n === 'honour') expect(s.stats.ok).toBe(16);
      else expect(s.stats.ok).toBe(64);
      const m = JSON.parse(fs.readFileSync(path.join(ctx.dir, 'artifacts', `n-${n}`, 'iter-001', 'manifest.json'), 'utf8'));
      expect(m.counts).toMatchObject({ prompts_in: 8, prompts_sampled: 8, samples: 32, scored: 32 });
      expect(m.train).toMatchObject({ trained: false });
      expect(m.feedback.examples_out).toBeGreaterThan(0);
      // Nothing truncated: nothing new is written (the artifacts of such campaigns stay as they were).
      expect(m.artifacts.samples_truncated).toBeUndefined();
      expect(fs.existsSync(path.join(ctx.dir, 'artifacts', `n-${n}`, 'iter-001', 'samples-truncated'))).toBe(false);
    } finally {
      await s.stop();
    }
  });

  test('SIGKILL the sample worker mid-shard: completed samples are not asked for again, results equal an uninterrupted run', async () => {
    const s = await new FakePolicyServer({ candidates: pools(), latencyMs: 150 }).start();
    try {
      const mk = (name: string) =>
        writeCampaign(ctx.dir, name, {
          iterations: 1,
          perIteration: 24,
          promptsPerShard: 24,
          sampler: sampler(s, ', limits: { maxInFlight: 2 }'),
          trainer: '{ kind: none }',
        });
      const env = cliEnv(ctx.server.address);
      let worker = spawnWorker(env);
      expect(cli(['start', mk('killed'), '--id', 'killed-1'], env).status).toBe(0);
      await waitFor('a third of the samples', () => s.stats.served.size >= 32, 120000, 20);
      await killHard(worker);
      const servedAtKill = s.stats.served.size;
      worker = spawnWorker(env);
      try {
        expect((await ctx.client.workflow.getHandle('killed-1').result()).state).toBe('completed');
      } finally {
        await killHard(worker);
      }
      // Each (prompt, seed, index) was served once, apart from the requests in flight at the kill (2 x n = 8 samples at most).
      const twice = [...s.stats.served.values()].filter((c) => c > 1).length;
      expect(twice).toBeLessThanOrEqual(8);
      expect(s.stats.served.size).toBe(96);
      expect(servedAtKill).toBeLessThan(96);
      // An uninterrupted run with the same seeds gives the same samples.
      const ref = await runCampaign('clean-1', mk('clean'));
      expect(ref.state).toBe('completed');
      const strip = (r: Record<string, unknown>) => ({ p: r.prompt_id, s: r.sample_id, o: r.output });
      expect(samplesOf('killed-1').map(strip)).toEqual(samplesOf('clean-1').map(strip));
    } finally {
      await s.stop();
    }
  });

  test('truncated samples are dropped and counted, empty completions and server errors are failures with reasons', async () => {
    const s = await new FakePolicyServer({}).start();
    try {
      const prompts = path.join(ctx.dir, 'faulty-prompts.jsonl');
      const lines = [
        ...Array.from({ length: 6 }, (_, i) => ({ prompt: `ordinary question ${i}` })),
        { prompt: 'FAULT_LONG question' },
        { prompt: 'FAULT_EMPTY question' },
      ];
      fs.writeFileSync(prompts, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
      const file = writeCampaign(ctx.dir, 'faulty', {
        iterations: 1,
        perIteration: 8,
        promptsPath: prompts,
        sampler: sampler(s, ', maxFailedShare: 0.5'),
        trainer: '{ kind: none }',
      });
      expect((await runCampaign('faulty-1', file)).state).toBe('completed');
      const m = JSON.parse(fs.readFileSync(path.join(ctx.dir, 'artifacts', 'faulty-1', 'iter-000', 'manifest.json'), 'utf8'));
      expect(m.counts).toMatchObject({
        prompts_in: 8,
        prompts_sampled: 6,
        prompts_skipped: { all_samples_truncated: 1, empty_output: 1 },
        samples_failed: { empty_output: 4 },
        samples_dropped: { truncated: 4 },
        samples: 24,
      });
      for (const r of samplesOf('faulty-1')) expect(r.output).not.toBe('');
      // The texts the server returned cut at maxTokens are kept for audit beside the shards, never labeled.
      const iterDir = path.join(ctx.dir, 'artifacts', 'faulty-1', 'iter-000');
      const cut = stageRecords(ctx, 'faulty-1', 0, 'samples-truncated');
      expect(cut).toHaveLength(4);
      for (const r of cut) expect(r).toMatchObject({ prompt: [{ role: 'user', content: 'FAULT_LONG question' }], truncated: true, finish_reason: 'length' });
      expect(m.artifacts.samples_truncated.map((r: { path: string }) => path.relative(iterDir, r.path))).toEqual(['samples-truncated/shard-001.jsonl']);
      const scored = stageRecords(ctx, 'faulty-1', 0, 'scored');
      expect(scored).toHaveLength(24);
      expect(scored.some((r) => r.truncated === true)).toBe(false);
      const env = cliEnv(ctx.server.address);
      expect(cli(['verify', 'faulty-1', '--root', path.join(ctx.dir, 'artifacts')], env).status).toBe(0);
      const audit = cli(['audit', 'faulty-1', '--iteration', '0', '--prompt', 'FAULT_LONG question', '--json', '--root', path.join(ctx.dir, 'artifacts')], env);
      expect(audit.status).toBe(0);
      const samples = JSON.parse(audit.stdout).samples as Record<string, unknown>[];
      expect(samples).toHaveLength(4);
      for (const x of samples) expect(x).toMatchObject({ truncated: true, finish_reason: 'length', label_status: 'not labeled: truncated at maxTokens' });
    } finally {
      await s.stop();
    }
  });

  test('a wrong model name pauses the campaign with a message naming sampler.model', async () => {
    const s = await new FakePolicyServer({ models: ['served-policy'] }).start();
    const env = cliEnv(ctx.server.address);
    const worker = spawnWorker(env);
    try {
      const file = writeCampaign(ctx.dir, 'wrongmodel', { iterations: 1, perIteration: 4, sampler: sampler(s), trainer: '{ kind: none }' });
      const v = await cliAsync(['validate', file], env); // the fake server lives in this process
      expect(v.status).toBe(0);
      expect(v.stderr).toMatch(/warning: the sampling endpoint .* does not list model "policy"/);
      expect(cli(['start', file, '--id', 'wrongmodel-1'], env).status).toBe(0);
      const h = ctx.client.workflow.getHandle('wrongmodel-1');
      await waitFor('failed-paused', async () => (await h.query(campaignStatusQuery).catch(() => null))?.state === 'failed-paused');
      const st = await h.query(campaignStatusQuery);
      expect(st.failure).toMatchObject({ stage: 'sample', errorType: 'SamplerConfigError', attempt: 1 });
      expect(st.pauseReason).toMatch(/does not know model "policy" \(HTTP 404\); check sampler.model/);
    } finally {
      await killHard(worker);
      await s.stop();
    }
  });

  test('an unreachable base URL pauses the campaign naming sampler.baseURL; nothing is written for the shard', async () => {
    const env = cliEnv(ctx.server.address);
    const worker = spawnWorker(env);
    try {
      const dead = '{ kind: openai, baseURL: http://127.0.0.1:9/v1, model: policy, samplesPerPrompt: 2, timeoutSeconds: 2, attempts: 2 }';
      const file = writeCampaign(ctx.dir, 'unreachable', { iterations: 1, perIteration: 4, sampler: dead, trainer: '{ kind: none }' });
      const v = cli(['validate', file], env);
      expect(v.status).toBe(0);
      expect(v.stderr).toMatch(/warning: the sampling endpoint http:\/\/127.0.0.1:9\/v1 is not reachable from here/);
      expect(cli(['start', file, '--id', 'unreachable-1'], env).status).toBe(0);
      const h = ctx.client.workflow.getHandle('unreachable-1');
      await waitFor('failed-paused', async () => (await h.query(campaignStatusQuery).catch(() => null))?.state === 'failed-paused');
      const st = await h.query(campaignStatusQuery);
      expect(st.failure).toMatchObject({ stage: 'sample', errorType: 'SamplerSystemicError', attempt: 1 });
      expect(st.pauseReason).toMatch(/8 of 8 samples failed \(connection_error=8\) at http:\/\/127.0.0.1:9\/v1/);
      expect(st.pauseReason).toMatch(/check sampler.baseURL/);
      expect(fs.existsSync(path.join(ctx.dir, 'artifacts', 'unreachable-1', 'iter-000', 'samples', 'shard-000.jsonl'))).toBe(false);
    } finally {
      await killHard(worker);
    }
  });
});
