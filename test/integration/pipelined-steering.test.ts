/**
 * Steering a campaign whose iterations overlap (schedule.maxPolicyLag: 1) while two iterations are in
 * flight: one training, the next sampling and labeling. Pause and stop let both finish and start
 * nothing new; a failure in the iteration sampling ahead pauses the campaign and keeps the other's work.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { campaignStatusQuery, CampaignStatus } from '../../workflows/messages';
import { FakeJudgeServer } from '../fakes/openai-judge-server';
import { QUICKSTART_PROMPTS, ROOT } from '../helpers/paths';
import { cli, cliEnv, killHard, spawnWorker, useTestServer, waitFor, writeCampaign } from '../helpers/temporal';

jest.setTimeout(900_000);

const ctx = useTestServer('alignloop-pipelined-steer-');

const iterDir = (root: string, i: number) => path.join(root, `iter-${String(i).padStart(3, '0')}`);
const manifestOf = (root: string, i: number) => JSON.parse(fs.readFileSync(path.join(iterDir(root, i), 'manifest.json'), 'utf8'));

/** mtime of every completion record below dir: a rewritten one means the work was redone. */
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

/** Slow enough (training ~6 s, labeling ~2 s an iteration) that a request lands while both halves run. */
const SLOW = { ALIGNLOOP_TEST_SLOW_MS: '100' };
const over = { perIteration: 8, epochs: 60, batchTokens: 64, extra: 'schedule: { maxPolicyLag: 1 }' };

/** Waits until iteration i trains while iteration i+1 samples or labels, and returns that status. */
async function twoInFlight(id: string): Promise<CampaignStatus> {
  const h = ctx.client.workflow.getHandle(id);
  return waitFor(
    'two iterations in flight',
    async () => {
      const s = await h.query(campaignStatusQuery).catch(() => null);
      const running = s?.inFlight?.filter((f) => f.state === 'running') ?? [];
      return running.some((f) => f.half === 'learn') && running.some((f) => f.half === 'gather') ? s : null;
    },
    120000,
    50,
  );
}

test('pause with two iterations in flight: both finish, nothing new starts, status shows both; resume continues; stop with two in flight ends after both', async () => {
  const file = writeCampaign(ctx.dir, 'steer', { ...over, iterations: 6 });
  const env = cliEnv(ctx.server.address, SLOW);
  const root = path.join(ctx.dir, 'artifacts', 'steer-1');
  const worker = spawnWorker(env);
  try {
    expect(cli(['start', file, '--id', 'steer-1'], env).status).toBe(0);
    const h = ctx.client.workflow.getHandle('steer-1');
    const status = () => h.query(campaignStatusQuery);
    const both = await twoInFlight('steer-1');
    const learning = both.inFlight!.find((f) => f.half === 'learn')!.iteration;
    expect(both.maxPolicyLag).toBe(1);
    expect(both.inFlight).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ iteration: learning, half: 'learn', state: 'running', workflowId: `steer-1/iter-${learning}/learn` }),
        expect.objectContaining({ iteration: learning + 1, half: 'gather', state: 'running', lag: 1, sampledFromVersion: learning }),
      ]),
    );
    // What `status` prints: both iterations, their stages and the lag.
    const text = cli(['status', 'steer-1'], env);
    expect(text.stdout).toMatch(
      new RegExp(
        `iteration ${learning}: learn running \\(stage (feedback|train|manifest)\\); sampled from checkpoint version ${Math.max(0, learning - 1)} \\(lag ${learning === 0 ? 0 : 1} of at most 1\\)`,
      ),
    );
    expect(text.stdout).toMatch(
      new RegExp(
        `iteration ${learning + 1}: gather running \\(stage (prompts|sample|score)[^)]*\\); sampled from checkpoint version ${learning} \\(lag 1 of at most 1\\)`,
      ),
    );

    expect(cli(['pause', 'steer-1'], env).status).toBe(0);
    expect((await status()).state).toBe('pausing');
    const paused = await waitFor('paused', async () => {
      const s = await status();
      return s.state === 'paused' ? s : null;
    });
    // The training iteration finished and was booked; the one ahead finished labeling and waits, gathered.
    expect(paused.completed).toBe(learning + 1);
    expect(fs.existsSync(path.join(iterDir(root, learning), 'manifest.json'))).toBe(true);
    expect(paused.inFlight).toEqual([expect.objectContaining({ iteration: learning + 1, half: 'gather', state: 'gathered' })]);
    // Nothing of the iteration after it started.
    expect(fs.existsSync(iterDir(root, learning + 2))).toBe(false);
    const done = doneTimes(root);

    expect(cli(['resume', 'steer-1'], env).status).toBe(0);
    const again = await twoInFlight('steer-1');
    const learning2 = again.inFlight!.find((f) => f.half === 'learn')!.iteration;
    expect(learning2).toBeGreaterThan(learning);
    expect(cli(['stop', 'steer-1'], env).status).toBe(0);
    const result = await h.result();
    expect(result.state).toBe('stopped');
    // Both halves in flight finished: the training one is booked, the gathered one is on disk, unlearned.
    expect(result.summaries.map((s: { iteration: number }) => s.iteration)).toEqual(Array.from({ length: learning2 + 1 }, (_, k) => k));
    const ahead = learning2 + 1;
    expect(fs.readdirSync(path.join(iterDir(root, ahead), 'scored')).filter((f) => f.endsWith('.jsonl.done.json')).length).toBe(2);
    expect(fs.existsSync(path.join(iterDir(root, ahead), 'manifest.json'))).toBe(false);
    expect(fs.existsSync(iterDir(root, ahead + 1))).toBe(false);
    // The gathered iteration was learned after the pause, not gathered again.
    const after = doneTimes(root);
    for (const [k, t] of done) expect({ k, t: after.get(k) }).toEqual({ k, t });
    for (let i = 1; i <= learning2; i++) expect(manifestOf(root, i).policy_lag).toMatchObject({ min: 1, max: 1 });
  } finally {
    await killHard(worker);
  }
});

test('a failure in the iteration sampling ahead: the training one finishes and is kept, the campaign pauses; resume redoes nothing finished', async () => {
  // Once iteration 0 has its prompts, the file is cut to 12: iteration 1 needs 8 more and fails at its
  // prompts stage (a non-retryable input error) while iteration 0 trains.
  const prompts = path.join(ctx.dir, 'few-prompts.jsonl');
  const all = fs.readFileSync(QUICKSTART_PROMPTS, 'utf8').trim().split('\n');
  fs.writeFileSync(prompts, all.join('\n') + '\n');
  const file = writeCampaign(ctx.dir, 'fail', { ...over, iterations: 3, promptsPath: prompts });
  const env = cliEnv(ctx.server.address, SLOW);
  const root = path.join(ctx.dir, 'artifacts', 'fail-1');
  let worker = spawnWorker(env);
  try {
    expect(cli(['start', file, '--id', 'fail-1'], env).status).toBe(0);
    const h = ctx.client.workflow.getHandle('fail-1');
    await waitFor('iteration 0 prompts', () => fs.existsSync(path.join(iterDir(root, 0), 'prompts', 'index.json.done.json')), 120000, 10);
    fs.writeFileSync(prompts, all.slice(0, 12).join('\n') + '\n');
    const failed = await waitFor('failed-paused', async () => {
      const s = await h.query(campaignStatusQuery).catch(() => null);
      return s?.state === 'failed-paused' ? s : null;
    });
    expect(failed.failure).toMatchObject({ iteration: 1, stage: 'prompts', errorType: 'InputError' });
    // Iteration 0 trained while iteration 1 failed, and is booked.
    expect(failed.completed).toBe(1);
    expect(manifestOf(root, 0).iteration).toBe(0);
    const st = cli(['status', 'fail-1'], env);
    expect(st.stdout).toMatch(/failed-paused/);
    expect(st.stdout).toMatch(/iteration 1, stage prompts/);

    const before = doneTimes(root);
    fs.writeFileSync(prompts, all.join('\n') + '\n');
    await killHard(worker);
    worker = spawnWorker(env);
    expect(cli(['resume', 'fail-1'], env).status).toBe(0);
    const result = await h.result();
    expect(result.state).toBe('completed');
    expect(result.summaries.map((s: { iteration: number }) => s.iteration)).toEqual([0, 1, 2]);
    const after = doneTimes(root);
    for (const [k, t] of before) expect({ k, t: after.get(k) }).toEqual({ k, t });
    // Iteration 1 kept the checkpoint pinned for it before the failure: still within the bound.
    expect(manifestOf(root, 1).policy_lag).toMatchObject({ min: 1, max: 1 });
  } finally {
    await killHard(worker);
  }
});

test('a failure in the training iteration: the iteration sampling ahead finishes and is kept; resume trains again and samples nothing again', async () => {
  // A command trainer that exits 0 without a checkpoint once (non-retryable: the campaign pauses), then trains.
  const policy = path.join(ctx.dir, 'learn-fail-policy');
  fs.mkdirSync(policy);
  fs.writeFileSync(path.join(policy, 'config.json'), JSON.stringify({ model_type: 'llama' }));
  fs.writeFileSync(path.join(policy, 'model.safetensors'), Buffer.alloc(256, 3));
  fs.writeFileSync(path.join(policy, 'tokenizer.json'), '{"model": {}}');
  fs.writeFileSync(path.join(policy, 'tokenizer_config.json'), JSON.stringify({ chat_template: "{% for m in messages %}{{ m['content'] }}\n{% endfor %}" }));
  const fake = (name: string) => path.join(ROOT, 'dist', 'test', 'fakes', name);
  const trainer = `{ kind: command, preset: custom, method: dpo, reference: previous, command: ${JSON.stringify([
    'node',
    fake('fake-trainer.js'),
    '--model_name_or_path',
    '{{policy.path}}',
    '--dataset',
    '{{feedback.trl}}',
    '--output_dir',
    '{{output_dir}}',
  ])} }`;
  const sampler = `{ kind: command, command: ${JSON.stringify(['node', fake('halos-sample.js'), '{{policy.path}}', '--datasets', '{{prompts.json}}', '--output_file', '{{out}}'])}, samplesPerPrompt: 3 }`;
  const file = writeCampaign(ctx.dir, 'learnfail', {
    ...over,
    iterations: 3,
    sampler,
    trainer,
    feedback: '{ type: pairwise, mode: max, threshold: 0, seed: 1 }',
    extra: `policy: { path: ${policy} }\nschedule: { maxPolicyLag: 1 }`,
  });
  const env = cliEnv(ctx.server.address, { ...SLOW, FAKE_TRAINER_MODE: 'exit0-empty', FAKE_TRAINER_ONCE: path.join(ctx.dir, 'learnfail.once') });
  const root = path.join(ctx.dir, 'artifacts', 'learnfail-1');
  let worker = spawnWorker(env);
  try {
    expect(cli(['start', file, '--id', 'learnfail-1'], env).status).toBe(0);
    const h = ctx.client.workflow.getHandle('learnfail-1');
    const failed = await waitFor('failed-paused', async () => {
      const s = await h.query(campaignStatusQuery).catch(() => null);
      return s?.state === 'failed-paused' ? s : null;
    });
    expect(failed.failure).toMatchObject({ iteration: 0, stage: 'train', errorType: 'ProcessFailed' });
    expect(failed.completed).toBe(0);
    // Iteration 1 sampled and labelled while iteration 0 failed, and waits, gathered.
    expect(failed.inFlight).toEqual([
      expect.objectContaining({ iteration: 0, half: 'gather', state: 'gathered', lag: 0 }),
      expect.objectContaining({ iteration: 1, half: 'gather', state: 'gathered', lag: 1 }),
    ]);
    expect(fs.readdirSync(path.join(iterDir(root, 1), 'scored')).filter((f) => f.endsWith('.jsonl.done.json')).length).toBe(2);

    const before = doneTimes(root);
    await killHard(worker);
    worker = spawnWorker(env);
    expect(cli(['resume', 'learnfail-1'], env).status).toBe(0);
    const result = await h.result();
    expect(result.state).toBe('completed');
    expect(result.summaries.map((s: { iteration: number }) => s.iteration)).toEqual([0, 1, 2]);
    const after = doneTimes(root);
    for (const [k, t] of before) expect({ k, t: after.get(k) }).toEqual({ k, t });
    expect(manifestOf(root, 1).policy_lag).toMatchObject({ min: 1, max: 1 });
  } finally {
    await killHard(worker);
  }
});

test('the judge budget runs out in the iteration sampling ahead: the training one is booked, the campaign pauses; resume --budget finishes without paying twice', async () => {
  const judge = await new FakeJudgeServer({ apiKey: 'sk-overlap-key', structuredOutput: true }).start();
  const labeler =
    `{ kind: judge, baseURL: ${judge.baseURL}, model: judge-small, apiKeyEnv: JUDGE_API_KEY, timeoutSeconds: 5, maxTokens: 64, ` +
    `prices: { inputPerMTok: 100, outputPerMTok: 400 }, limits: { requestsPerMinute: 6000, tokensPerMinute: 10000000, maxInFlight: 4 } }`;
  // ~32 judgements an iteration at ~$0.016 each: $1 pays for iteration 0 and runs out inside iteration 1
  // (maxTokens 64 keeps the worst case each call in flight reserves small, so iteration 0 always fits).
  const file = writeCampaign(ctx.dir, 'budget', { ...over, iterations: 3, labeler, extra: 'schedule: { maxPolicyLag: 1 }\nbudget: { usd: 1 }' });
  const env = cliEnv(ctx.server.address, { ...SLOW, JUDGE_API_KEY: 'sk-overlap-key' });
  const root = path.join(ctx.dir, 'artifacts', 'budget-1');
  const worker = spawnWorker(env);
  try {
    expect(cli(['start', file, '--id', 'budget-1'], env).status).toBe(0);
    const h = ctx.client.workflow.getHandle('budget-1');
    const paused = await waitFor('the budget pause', async () => {
      const s = await h.query(campaignStatusQuery).catch(() => null);
      return s?.state === 'paused' ? s : null;
    });
    expect(paused.pauseReason).toMatch(/budget reached/);
    expect(paused.completed).toBe(1);
    expect(paused.spentUsd).toBeLessThanOrEqual(1);
    const m0 = manifestOf(root, 0);
    expect(paused.spentUsd).toBeGreaterThan(m0.cost.judge_usd);
    expect(paused.inFlight).toEqual([expect.objectContaining({ iteration: 1, half: 'gather', state: 'waiting', sampledFromVersion: 0 })]);
    expect(cli(['status', 'budget-1'], env).stdout).toMatch(/iteration 1: waits to gather; sampled from checkpoint version 0 \(lag 1 of at most 1\)/);
    expect(cli(['resume', 'budget-1'], env).status).toBe(1);
    const paidAtPause = judge.stats.ok;

    expect(cli(['resume', 'budget-1', '--budget', '1000'], env).status).toBe(0);
    const result = await h.result();
    expect(result.state).toBe('completed');
    const m1 = manifestOf(root, 1);
    expect(m1.policy_lag).toMatchObject({ min: 1, max: 1 });
    // Each of iteration 1's judgements was bought once: the retried gather reads back what the stopped one paid for.
    expect(m1.cost.paid_calls + m1.cost.cache_hits).toBe(32);
    expect(judge.stats.ok - paidAtPause).toBeLessThan(64);
    const final = await h.query(campaignStatusQuery);
    expect(final.spentUsd).toBeCloseTo(
      result.summaries.reduce((a: number, x: { costUsd: number }) => a + x.costUsd, 0),
      10,
    );
  } finally {
    await killHard(worker);
    await judge.stop();
  }
});

test('resume --config lowering maxPolicyLag to 0: the iteration gathered ahead is trained as it was sampled, later ones run one after another', async () => {
  const file = writeCampaign(ctx.dir, 'lower', { ...over, iterations: 4 });
  const env = cliEnv(ctx.server.address, SLOW);
  const root = path.join(ctx.dir, 'artifacts', 'lower-1');
  const worker = spawnWorker(env);
  try {
    expect(cli(['start', file, '--id', 'lower-1'], env).status).toBe(0);
    const h = ctx.client.workflow.getHandle('lower-1');
    const both = await twoInFlight('lower-1');
    const ahead = both.inFlight!.find((f) => f.half === 'gather')!.iteration;
    expect(cli(['pause', 'lower-1'], env).status).toBe(0);
    await waitFor('paused', async () => (await h.query(campaignStatusQuery)).state === 'paused');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('schedule: { maxPolicyLag: 1 }', 'schedule: { maxPolicyLag: 0 }'));
    const r = cli(['resume', 'lower-1', '--config', file], env);
    expect(r.status).toBe(0);
    const result = await h.result();
    expect(result.state).toBe('completed');
    expect(result.summaries.map((s: { iteration: number }) => s.iteration)).toEqual([0, 1, 2, 3]);
    // The gathered iteration kept its samples (one checkpoint old); the ones after sampled from the checkpoint they trained from.
    expect(manifestOf(root, ahead).policy_lag).toMatchObject({ min: 1, max: 1 });
    for (let i = ahead + 1; i < 4; i++) {
      expect(manifestOf(root, i).policy_lag).toBeUndefined();
      await expect(ctx.client.workflow.getHandle(`lower-1/iter-${i}`).describe()).resolves.toBeTruthy();
    }
    expect(manifestOf(root, ahead).config_changes).toEqual([expect.objectContaining({ path: 'schedule.maxPolicyLag', from: 1, to: 0 })]);
  } finally {
    await killHard(worker);
  }
});
