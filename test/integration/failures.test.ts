import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { campaignStatusQuery } from '../../workflows/messages';
import { FakeJudgeServer } from '../fakes/openai-judge-server';
import { FakePolicyServer } from '../fakes/openai-policy-server';
import { FakeRewardServer } from '../fakes/reward-server';
import { CLI, MODELS } from '../helpers/paths';
import { cli, cliAsync, cliEnv, filesUnder, killHard, spawnWorker, startTestServer, useTestServer, waitFor, writeCampaign } from '../helpers/temporal';

jest.setTimeout(600_000);

const ctx = useTestServer('alignloop-fail-');

/** mtime of every completion manifest below dir: a rewritten one means the work was redone. */
function doneTimes(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.done.json')) out.set(path.relative(dir, p), fs.statSync(p).mtimeMs);
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out;
}

describe('status with no worker', () => {
  test('a campaign nobody works on: status names the queue without a worker and how to start one', async () => {
    const server = await startTestServer(path.join(ctx.dir, 'lonely.db'));
    try {
      const env = cliEnv(server.address);
      const file = writeCampaign(ctx.dir, 'lonely', { iterations: 1, perIteration: 4 });
      expect(cli(['start', file, '--id', 'lonely-1'], env).status).toBe(0);
      const st = cli(['status', 'lonely-1'], env);
      expect(st.status).toBe(0);
      expect(st.stdout).toMatch(/waiting: no worker polls alignloop-control/);
      expect(st.stdout).toMatch(/next: start a worker for alignloop-control: `alignloop worker --roles control`/);
    } finally {
      await server.kill();
    }
  });
});

describe('a failure pauses the campaign instead of killing it', () => {
  test('reward model folder gone mid-campaign: failed-paused, status tells the truth with no worker, resume after restoring redoes nothing', async () => {
    const model = path.join(ctx.dir, 'rm');
    fs.cpSync(MODELS.bt, model, { recursive: true });
    const file = writeCampaign(ctx.dir, 'gone', {
      iterations: 2,
      perIteration: 8,
      labeler: `{ kind: reward-model, model: ${model}, batchTokens: 8192, threads: 1 }`,
    });
    const env = cliEnv(ctx.server.address);
    const artifacts = path.join(ctx.dir, 'artifacts', 'gone-1');
    // Slow enough that the pause lands while iteration 0 is in flight.
    let worker = spawnWorker({ ...env, ALIGNLOOP_TEST_SLOW_MS: '150' });
    try {
      expect(cli(['start', file, '--id', 'gone-1'], env).status).toBe(0);
      const h = ctx.client.workflow.getHandle('gone-1');
      await waitFor('iteration 0 in flight', async () => (await h.query(campaignStatusQuery).catch(() => null))?.currentIteration === 0);
      // Iteration 0 finishes, then the campaign waits.
      expect(cli(['pause', 'gone-1'], env).status).toBe(0);
      await waitFor('iteration 0 done and paused', async () => {
        const s = await h.query(campaignStatusQuery).catch(() => null);
        return s?.state === 'paused' && s.completed === 1;
      });
      // A fresh worker (no cached ORT session) and no model folder.
      await killHard(worker);
      fs.renameSync(model, `${model}.away`);
      worker = spawnWorker(env);
      const r = cli(['resume', 'gone-1'], env);
      expect(r.status).toBe(0);
      // What the server holds (the workflow's memo), not just what a worker answers to a query.
      await waitFor('failed-paused', () => JSON.parse(cli(['status', 'gone-1', '--json'], env).stdout).state === 'failed-paused', 120000, 250);
      await killHard(worker);

      // No worker runs now: status reads the server alone.
      const st = cli(['status', 'gone-1'], env);
      expect(st.status).toBe(1);
      expect(st.stdout).toMatch(/failed-paused/);
      expect(st.stdout).toMatch(/iteration 1, stage score, shard \d: ModelFolderError \(attempt 1\)/);
      expect(st.stdout).toContain(model);
      expect(st.stdout).toMatch(/next: fix the cause, then `alignloop resume gone-1`/);
      const json = JSON.parse(cli(['status', 'gone-1', '--json'], env).stdout);
      expect(json).toMatchObject({ workflowStatus: 'RUNNING', state: 'failed-paused', needsAttention: true });
      expect(json.status.failure).toMatchObject({ iteration: 1, stage: 'score', errorType: 'ModelFolderError', activity: 'scoreShard' });
      expect(json.status.failure.attempt).toBe(1); // non-retryable: not retried 20 times first

      const before = doneTimes(artifacts);
      expect([...before.keys()].some((k) => k.startsWith('iter-001/samples/'))).toBe(true);
      fs.renameSync(`${model}.away`, model);
      worker = spawnWorker(env);
      const res = cli(['resume', 'gone-1', '--wait', '90'], env);
      expect(res.status).toBe(0);
      expect(res.stdout).toMatch(/resumed gone-1/);
      const result = await h.result();
      expect(result.state).toBe('completed');
      expect(result.summaries.map((s: { iteration: number }) => s.iteration)).toEqual([0, 1]);
      // Nothing finished before the failure was redone.
      const after = doneTimes(artifacts);
      for (const [k, t] of before) expect(after.get(k)).toBe(t);
      expect(cli(['status', 'gone-1'], env).status).toBe(0);
    } finally {
      await killHard(worker);
    }
  });

  test('a reward model that changes mid-campaign is refused, named, and recorded per iteration', async () => {
    const model = path.join(ctx.dir, 'rm-changing');
    fs.cpSync(MODELS.bt, model, { recursive: true });
    const file = writeCampaign(ctx.dir, 'swap', { iterations: 2, perIteration: 8, labeler: `{ kind: reward-model, model: ${model}, threads: 1 }` });
    const env = cliEnv(ctx.server.address);
    const worker = spawnWorker({ ...env, ALIGNLOOP_TEST_SLOW_MS: '150' });
    try {
      expect(cli(['start', file, '--id', 'swap-1'], env).status).toBe(0);
      const h = ctx.client.workflow.getHandle('swap-1');
      await waitFor('iteration 0 in flight', async () => (await h.query(campaignStatusQuery).catch(() => null))?.currentIteration === 0);
      expect(cli(['pause', 'swap-1'], env).status).toBe(0);
      await waitFor('paused after iteration 0', async () => {
        const s = await h.query(campaignStatusQuery).catch(() => null);
        return s?.state === 'paused' && s.completed === 1;
      });
      const cfg = path.join(model, 'tokenizer_config.json');
      const original = fs.readFileSync(cfg);
      fs.writeFileSync(cfg, original.toString() + '\n');
      expect(cli(['resume', 'swap-1'], env).status).toBe(0);
      await waitFor('failed-paused', async () => (await h.query(campaignStatusQuery).catch(() => null))?.state === 'failed-paused');
      const s = await h.query(campaignStatusQuery);
      expect(s.failure).toMatchObject({ iteration: 1, stage: 'score', errorType: 'ArtifactError', attempt: 1 });
      expect(s.pauseReason).toMatch(
        /the reward model in .*rm-changing changed since this campaign recorded it \(tokenizer_config.json: [0-9a-f]{12} -> [0-9a-f]{12}\)/,
      );
      expect(s.pauseReason).toMatch(/allowModelChange/);
      fs.writeFileSync(cfg, original);
      expect(cli(['resume', 'swap-1'], env).status).toBe(0);
      expect((await h.result()).state).toBe('completed');
      const manifests = [0, 1].map((i) => JSON.parse(fs.readFileSync(path.join(ctx.dir, 'artifacts', 'swap-1', `iter-00${i}`, 'manifest.json'), 'utf8')));
      for (const m of manifests) {
        expect(m.lineage.labeler.model_sha256).toMatch(/^[0-9a-f]{64}$/);
        expect(m.lineage.labeler.model_files['model.onnx']).toMatch(/^[0-9a-f]{64}$/);
        expect(m.lineage.labeler.model_version).toBe('1');
      }
      expect(manifests[1].lineage.labeler.model_sha256).toBe(manifests[0].lineage.labeler.model_sha256);
    } finally {
      await killHard(worker);
    }
  });

  test('a transient failure that outlasts the old 20-attempt budget is retried until it passes; status shows the retries', async () => {
    // Retries every ~1 s here (the default backs off to 60 s): 25 failing attempts take about 25 s.
    const file = writeCampaign(ctx.dir, 'outage', { iterations: 1, perIteration: 4, durability: 'retryInitialSeconds: 0.5, retryMaxIntervalSeconds: 1' });
    const env = cliEnv(ctx.server.address);
    const worker = spawnWorker({ ...env, ALIGNLOOP_TEST_FAIL_ACTIVITY: 'scoreShard', ALIGNLOOP_TEST_FAIL_ATTEMPTS: '25' });
    try {
      expect(cli(['start', file, '--id', 'outage-1'], env).status).toBe(0);
      const seen = await waitFor(
        'a retry shown by status',
        () => {
          const out = cli(['status', 'outage-1'], env).stdout;
          return /retrying: scoreShard attempt \d+: injected transient failure/.test(out) ? out : null;
        },
        120000,
        500,
      );
      expect(seen).toMatch(/running/);
      const result = await ctx.client.workflow.getHandle('outage-1').result();
      expect(result.state).toBe('completed');
      const history = await ctx.client.workflow.getHandle('outage-1/iter-0').fetchHistory();
      // The 25 failed attempts were retries, not failures: none reached the history as a failed activity.
      expect(history.events!.filter((e) => e.activityTaskFailedEventAttributes || e.activityTaskTimedOutEventAttributes)).toEqual([]);
      const started = history.events!.find((e) => e.activityTaskStartedEventAttributes && (e.activityTaskStartedEventAttributes.attempt ?? 0) > 25);
      expect(started?.activityTaskStartedEventAttributes?.attempt).toBe(26);
    } finally {
      await killHard(worker);
    }
  });

  test('a tampered artifact is caught, named, and not retried: the campaign pauses until it is restored', async () => {
    const file = writeCampaign(ctx.dir, 'tamper', { iterations: 1, perIteration: 8, epochs: 60 });
    const env = cliEnv(ctx.server.address, { ALIGNLOOP_TEST_SLOW_MS: '100' });
    const feedback = path.join(ctx.dir, 'artifacts', 'tamper-1', 'iter-000', 'feedback', 'feedback.jsonl');
    let worker = spawnWorker(env);
    try {
      expect(cli(['start', file, '--id', 'tamper-1'], env).status).toBe(0);
      const h = ctx.client.workflow.getHandle('tamper-1');
      // Kill the worker while it trains, then edit the feedback it trains on.
      await waitFor('training under way', () => fs.existsSync(path.join(path.dirname(feedback), '..', 'train', 'progress.json')), 120000);
      await killHard(worker);
      const original = fs.readFileSync(feedback);
      fs.writeFileSync(feedback, original.toString().replace(/"label":1/, '"label":0'));
      worker = spawnWorker(env);
      await waitFor('failed-paused', async () => (await h.query(campaignStatusQuery).catch(() => null))?.state === 'failed-paused');
      const s = await h.query(campaignStatusQuery);
      expect(s.failure).toMatchObject({ stage: 'train', errorType: 'ArtifactError', attempt: 2 });
      expect(s.pauseReason).toContain(feedback);
      expect(s.pauseReason).toMatch(/changed since it was recorded/);
      fs.writeFileSync(feedback, original);
      expect(cli(['resume', 'tamper-1'], env).status).toBe(0);
      expect((await h.result()).state).toBe('completed');
    } finally {
      await killHard(worker);
    }
  });

  test('a terminated campaign: status says so with no worker, exits 1, and says what to do', async () => {
    const file = writeCampaign(ctx.dir, 'term', { iterations: 1, perIteration: 4 });
    const env = cliEnv(ctx.server.address);
    expect(cli(['start', file, '--id', 'term-1'], env).status).toBe(0);
    await ctx.client.workflow.getHandle('term-1').terminate('operator pulled the plug');
    const st = cli(['status', 'term-1'], env);
    expect(st.status).toBe(1);
    expect(st.stdout).toMatch(/\[term-1\] terminated/);
    expect(st.stdout).toMatch(/failure: .*operator pulled the plug/);
    expect(st.stdout).toMatch(/next: .*new --id/);
    const r = cli(['resume', 'term-1'], env);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/is not running \(terminated\)/);
  });
});

describe('secrets', () => {
  /** Every place a campaign leaves text: the CLI, both workflows' histories, the server's database, the worker log, the artifacts. */
  async function placesOf(id: string, log: string, env: NodeJS.ProcessEnv): Promise<[string, string][]> {
    const st = cli(['status', id, '--json'], env);
    const hist = cli(['history', id], env);
    const history = JSON.stringify(await ctx.client.workflow.getHandle(id).fetchHistory());
    const children = [];
    for await (const w of ctx.client.workflow.list({ query: `WorkflowId = '${id}/iter-0'` }))
      children.push(JSON.stringify(await ctx.client.workflow.getHandle(w.workflowId, w.runId).fetchHistory()));
    expect(children.length).toBeGreaterThan(0);
    const db = fs
      .readdirSync(path.dirname(ctx.server.dbFile))
      .filter((f) => f.startsWith(path.basename(ctx.server.dbFile)))
      .map((f) => fs.readFileSync(path.join(path.dirname(ctx.server.dbFile), f)).toString('latin1'));
    const artifacts = filesUnder(path.join(ctx.dir, 'artifacts', id), () => true);
    return [
      ['status', st.stdout + st.stderr],
      ['history command', hist.stdout + hist.stderr],
      ['history', history],
      ['iteration history', children.join()],
      ['worker log', fs.readFileSync(log, 'utf8')],
      ...db.map((t, i): [string, string] => [`database file ${i}`, t]),
      ...[...artifacts].map(([f, b]): [string, string] => [f, b.toString('utf8')]),
    ];
  }

  function expectNowhere(secret: string, places: [string, string][]): void {
    for (const [where, text] of places) expect([where, text.includes(secret)]).toEqual([where, false]);
  }

  function loggedWorker(name: string, env: NodeJS.ProcessEnv) {
    const log = path.join(ctx.dir, `${name}-worker.log`);
    const fd = fs.openSync(log, 'w');
    const worker = spawn(process.execPath, [CLI, 'worker'], { env, stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    return { log, worker };
  }

  /** Starts the campaign, waits for the failure pause, checks its reason quotes the body (redacted). */
  async function failedPaused(id: string, file: string, env: NodeJS.ProcessEnv, errorType: RegExp, quoted: RegExp) {
    expect(cli(['start', file, '--id', id], env).status).toBe(0);
    const h = ctx.client.workflow.getHandle(id);
    await waitFor('failed-paused', async () => (await h.query(campaignStatusQuery).catch(() => null))?.state === 'failed-paused');
    const s = await h.query(campaignStatusQuery);
    expect(s.failure?.errorType).toMatch(errorType);
    expect(s.pauseReason).toMatch(quoted); // the body did reach the message, redacted
    expect(s.pauseReason).toMatch(/\[REDACTED\]/);
  }

  // Keys that are neither key-shaped (sk-…) nor after a header name or "Bearer" once echoed in a plain
  // body: only the registry of secrets this process read redacts them.
  test.each([
    ['request headers in a JSON 400 body', 'tok_9f8e7d6c5b4a3921', { echoHeadersOnError: true }, /received headers/],
    ['the bare key in a plain-text 400 body', 'tok_judge7c6b5a4938', { echoKeyInBody: true }, /gateway policy: the key \[REDACTED\] may not/],
  ])('judge key: a gateway that echoes %s: the key is nowhere (history, database, logs, artifacts, CLI)', async (name, key, echo, quoted) => {
    const judge = await new FakeJudgeServer({ apiKey: key, ...echo }).start();
    const env = cliEnv(ctx.server.address, { JUDGE_API_KEY: key, ALIGNLOOP_LOG_LEVEL: 'INFO' });
    const id = `echo-${key.slice(4, 9)}`;
    const { log, worker } = loggedWorker(id, env);
    try {
      const labeler = `{ kind: judge, baseURL: ${judge.baseURL}, model: judge-small, apiKeyEnv: JUDGE_API_KEY, timeoutSeconds: 5 }`;
      await failedPaused(id, writeCampaign(ctx.dir, id, { iterations: 1, perIteration: 4, labeler }), env, /JudgeConfigError/, quoted);
      expect(judge.stats.calls).toBeGreaterThan(0);
      expectNowhere(key, await placesOf(id, log, env));
    } finally {
      await killHard(worker);
      await judge.stop();
    }
  });

  test('sampler key: a policy server that quotes the key in a plain-text 400: the key is nowhere', async () => {
    const key = 'tok_sampler3e2d1c0b9a';
    const policy = await new FakePolicyServer({ apiKey: key, echoKeyInBody: true }).start();
    const env = cliEnv(ctx.server.address, { POLICY_API_KEY: key, ALIGNLOOP_LOG_LEVEL: 'INFO' });
    const { log, worker } = loggedWorker('leak-sampler', env);
    try {
      const sampler = `{ kind: openai, baseURL: ${policy.baseURL}, model: policy, apiKeyEnv: POLICY_API_KEY, samplesPerPrompt: 2, maxTokens: 64, seed: 1, timeoutSeconds: 5 }`;
      const file = writeCampaign(ctx.dir, 'leak-sampler', { iterations: 1, perIteration: 4, sampler, trainer: '{ kind: none }' });
      await failedPaused('leak-sampler-1', file, env, /Sampler/, /the key \[REDACTED\] may not/);
      expect(policy.stats.errors['400']).toBeGreaterThan(0);
      expectNowhere(key, await placesOf('leak-sampler-1', log, env));
    } finally {
      await killHard(worker);
      await policy.stop();
    }
  });

  test('reward-server key: a reward server that quotes the key in a plain-text 400: the key is nowhere', async () => {
    const key = 'tok_reward8a7b6c5d4e';
    const rm = await new FakeRewardServer({ protocol: 'vllm', model: 'rm', apiKey: key, echoKeyInBody: true }).start();
    const env = cliEnv(ctx.server.address, { RM_API_KEY: key, ALIGNLOOP_LOG_LEVEL: 'INFO' });
    const { log, worker } = loggedWorker('leak-rm', env);
    try {
      fs.writeFileSync(path.join(ctx.dir, 'leak-rm.jinja'), "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}");
      const labeler = `{ kind: reward-server, protocol: vllm, baseURL: ${rm.baseURL}, model: rm, apiKeyEnv: RM_API_KEY, chatTemplate: leak-rm.jinja, batchSize: 4, timeoutSeconds: 5 }`;
      const file = writeCampaign(ctx.dir, 'leak-rm', { iterations: 1, perIteration: 4, labeler });
      await failedPaused('leak-rm-1', file, env, /RewardServer|Config/, /the key \[REDACTED\] may not/);
      expect(rm.stats.errors[400]).toBeGreaterThan(0);
      expectNowhere(key, await placesOf('leak-rm-1', log, env));
    } finally {
      await killHard(worker);
      await rm.stop();
    }
  });
});

describe('alignloop run and failures', () => {
  const runCli = cliAsync;

  test('run stops following a campaign paused on a failure (exit 1, how to continue); run again after the fix resumes it', async () => {
    const judge = await new FakeJudgeServer({ apiKey: 'sk-run-key', echoHeadersOnError: true }).start();
    try {
      const labeler = `{ kind: judge, baseURL: ${judge.baseURL}, model: judge-small, apiKeyEnv: JUDGE_API_KEY, timeoutSeconds: 5 }`;
      const file = writeCampaign(ctx.dir, 'runfail', { iterations: 1, perIteration: 4, labeler });
      const env = cliEnv(ctx.server.address, { JUDGE_API_KEY: 'sk-run-key' });
      const first = await runCli(['run', file, '--id', 'runfail-1'], env);
      expect(first.status).toBe(1);
      expect(first.stderr).toMatch(/campaign runfail-1 is paused on a failure: failed in iteration 0, stage score, shard 0: JudgeConfigError/);
      expect(first.stderr).toMatch(/`alignloop run .*runfail.yaml --id runfail-1`/);
      expect(first.stderr).not.toContain('sk-run-key');
      judge.opts.echoHeadersOnError = false; // the operator fixed the gateway
      const second = await runCli(['run', file, '--id', 'runfail-1'], env);
      expect(second.stderr).toMatch(/resuming campaign runfail-1, which was paused on: failed in iteration 0/);
      expect(second.status).toBe(0);
      expect(second.stdout).toMatch(/campaign runfail-1 completed/);
    } finally {
      await judge.stop();
    }
  });

  test.each(['SIGTERM', 'SIGINT'] as const)('run stops within seconds on %s; the campaign keeps running in Temporal', async (sig) => {
    const file = writeCampaign(ctx.dir, `sig-${sig}`, { iterations: 3, perIteration: 8, epochs: 200 });
    const env = cliEnv(ctx.server.address, { ALIGNLOOP_TEST_SLOW_MS: '200' });
    const child = spawn(process.execPath, [CLI, 'run', file, '--id', `sig-${sig}`], { env });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    await waitFor('iteration 0 under way', () => /iteration 0: (sample|score|feedback|train)/.test(stderr), 120000, 100);
    const t0 = Date.now();
    child.kill(sig);
    const code = await exited;
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(code).toBe(sig === 'SIGINT' ? 130 : 143);
    expect(stderr).toMatch(new RegExp(`interrupted \\(${sig}\\)`));
    const d = await ctx.client.workflow.getHandle(`sig-${sig}`).describe();
    expect(d.status.name).toBe('RUNNING');
    await ctx.client.workflow.getHandle(`sig-${sig}`).terminate('test done');
  });

  test('a judge endpoint that does not answer is a warning at validate time, not an error', () => {
    const labeler = '{ kind: judge, baseURL: http://127.0.0.1:9/v1, model: m, apiKeyEnv: NO_SUCH_KEY_VAR }';
    const file = writeCampaign(ctx.dir, 'offline', { iterations: 1, perIteration: 4, labeler });
    const r = cli(['validate', file], cliEnv(ctx.server.address));
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/warning: \$NO_SUCH_KEY_VAR is not set here/);
    expect(r.stderr).toMatch(/warning: the judge endpoint http:\/\/127.0.0.1:9\/v1 is not reachable from here/);
  });
});
