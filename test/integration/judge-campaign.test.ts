import * as fs from 'node:fs';
import * as path from 'node:path';
import { campaignStatusQuery } from '../../workflows/messages';
import { FakeJudgeServer, hiddenScore } from '../fakes/openai-judge-server';
import { cli, cliEnv, killHard, spawnWorker, useTestServer, waitFor, writeCampaign } from '../helpers/temporal';

jest.setTimeout(600_000);

const ctx = useTestServer('alignloop-judge-it-');
let judge: FakeJudgeServer;

beforeAll(async () => {
  judge = await new FakeJudgeServer({ apiKey: 'sk-campaign-key', structuredOutput: true }).start();
});

afterAll(async () => {
  await judge?.stop();
});

test('a judge-labeled campaign pauses at its budget, and resuming with a higher budget finishes it', async () => {
  const labeler = `{ kind: judge, baseURL: ${judge.baseURL}, model: judge-small, apiKeyEnv: JUDGE_API_KEY, timeoutSeconds: 5, ` +
    `prices: { inputPerMTok: 100, outputPerMTok: 400 }, limits: { requestsPerMinute: 6000, tokensPerMinute: 10000000, maxInFlight: 4 } }`;
  const file = writeCampaign(ctx.dir, 'judged', { iterations: 3, perIteration: 8, labeler, extra: 'budget: { usd: 0.001 }' });
  const env = cliEnv(ctx.server.address, { JUDGE_API_KEY: 'sk-campaign-key' });
  // Judge calls on their own worker, everything else on another.
  const judgeWorker = spawnWorker(env, 'judge');
  const otherWorker = spawnWorker(cliEnv(ctx.server.address), 'control,sample,train');
  try {
    expect(cli(['start', file, '--id', 'judged-1'], env).status).toBe(0);
    const h = ctx.client.workflow.getHandle('judged-1');
    const paused = await waitFor('the budget pause', async () => {
      const s = await h.query(campaignStatusQuery).catch(() => null);
      return s?.state === 'paused' ? s : null;
    });
    expect(paused.completed).toBe(1);
    expect(paused.pauseReason).toMatch(/budget reached: \$[\d.]+ spent of \$0\.0010/);
    expect(paused.spentUsd).toBeGreaterThan(0.001);
    const st = cli(['status', 'judged-1'], env);
    expect(st.stdout).toMatch(/paused \(budget reached/);

    // The first iteration's labels are the judge's, through the hidden rule; cost is in the manifest.
    const m = JSON.parse(fs.readFileSync(path.join(ctx.dir, 'artifacts', 'judged-1', 'iter-000', 'manifest.json'), 'utf8'));
    expect(m.cost.judge_usd).toBeCloseTo(paused.spentUsd, 10);
    expect(m.cost.paid_calls + m.cost.cache_hits).toBe(32);
    expect(m.lineage.labeler).toMatchObject({ kind: 'judge', model: 'judge-small' });
    const scored = fs.readFileSync(m.artifacts.scored[0].path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    for (const r of scored) expect(r.reward).toBe(hiddenScore(r.output));
    // the key never reaches artifacts or workflow history
    const hist = JSON.stringify(await h.fetchHistory());
    expect(hist).not.toContain('sk-campaign-key');
    for (const f of m.artifacts.scored) expect(fs.readFileSync(f.path, 'utf8')).not.toContain('sk-campaign-key');

    expect(cli(['resume', 'judged-1', '--budget', '1000'], env).status).toBe(0);
    const result = await h.result();
    expect(result.state).toBe('completed');
    expect(result.summaries).toHaveLength(3);
    // never pay twice: each distinct judgement (prompt + response) was bought once, duplicates included
    expect(Math.max(...judge.stats.paidByRequest.values())).toBe(1);
    expect(judge.stats.ok).toBe(judge.stats.paidByRequest.size);
  } finally {
    await killHard(judgeWorker);
    await killHard(otherWorker);
  }
});

test('SIGKILL the judge worker mid-shard: the campaign completes and paid calls = distinct judgements + at most those in flight', async () => {
  const slow = await new FakeJudgeServer({ apiKey: 'sk-campaign-key', latencyMs: 40 }).start();
  try {
    const labeler = `{ kind: judge, baseURL: ${slow.baseURL}, model: judge-small, apiKeyEnv: JUDGE_API_KEY, timeoutSeconds: 5, ` +
      `limits: { requestsPerMinute: 60000, tokensPerMinute: 100000000, maxInFlight: 2 } }`;
    const file = writeCampaign(ctx.dir, 'judgekill', { iterations: 2, perIteration: 16, labeler });
    const env = cliEnv(ctx.server.address, { JUDGE_API_KEY: 'sk-campaign-key' });
    let judgeWorker = spawnWorker(env, 'judge');
    const otherWorker = spawnWorker(cliEnv(ctx.server.address), 'control,sample,train');
    try {
      expect(cli(['start', file, '--id', 'judgekill-1'], env).status).toBe(0);
      await waitFor('judging under way', () => slow.stats.ok >= 12, 120000, 5);
      await killHard(judgeWorker);
      const atKill = slow.stats.ok;
      judgeWorker = spawnWorker(env, 'judge');
      const result = await ctx.client.workflow.getHandle('judgekill-1').result();
      expect(result.state).toBe('completed');
      // Paid calls: every distinct judgement once, plus at most the 2 that were in flight at the kill.
      expect(slow.stats.ok - slow.stats.paidByRequest.size).toBeLessThanOrEqual(2);
      expect(atKill).toBeLessThan(slow.stats.ok);
      // No item lost: every sample of both iterations is labelled by the hidden rule.
      for (const it of ['iter-000', 'iter-001']) {
        const m = JSON.parse(fs.readFileSync(path.join(ctx.dir, 'artifacts', 'judgekill-1', it, 'manifest.json'), 'utf8'));
        expect(m.counts.scored).toBe(64);
        for (const ref of m.artifacts.scored) {
          for (const l of fs.readFileSync(ref.path, 'utf8').trim().split('\n').map((x: string) => JSON.parse(x))) expect(l.reward).toBe(hiddenScore(l.output));
        }
      }
    } finally {
      await killHard(judgeWorker);
      await killHard(otherWorker);
    }
  } finally {
    await slow.stop();
  }
});
