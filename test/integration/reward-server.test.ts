/**
 * Campaigns labelled by a reward model served elsewhere (labeler.kind: reward-server), through a real
 * Temporal server and worker processes, against the local vLLM-style /classify server.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FakeRewardServer, hiddenReward } from '../fakes/reward-server';
import { cli, cliEnv, killHard, runToEnd, spawnWorker, stageRecords, useTestServer, waitFor, writeCampaign } from '../helpers/temporal';

jest.setTimeout(600_000);

const ctx = useTestServer('alignloop-rs-it-');
let server: FakeRewardServer;
const TEMPLATE = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}";

beforeAll(async () => {
  server = await new FakeRewardServer({ protocol: 'vllm', model: 'rm' }).start();
  fs.writeFileSync(path.join(ctx.dir, 'rm.jinja'), TEMPLATE);
});
afterAll(() => server?.stop());

const labeler = (extra = '') =>
  `{ kind: reward-server, protocol: vllm, baseURL: ${server.baseURL}, model: rm, chatTemplate: rm.jinja, batchSize: 4, timeoutSeconds: 5, ` +
  `limits: { requestsPerMinute: 60000, tokensPerMinute: 100000000, maxInFlight: 2 }${extra} }`;

type Scored = { prompt: { role: string; content: string }[]; output: string; reward: number | null; label_status: string };
const textOf = (r: Scored) => [...r.prompt, { role: 'assistant', content: r.output }].map((m) => `${m.role}: ${m.content}\n`).join('');

const scored = (id: string, iteration: number) => stageRecords(ctx, id, iteration, 'scored') as unknown as Scored[];

test('two iterations labelled by the server: every reward is its reward for the rendered conversation; pairs built from them', async () => {
  const file = writeCampaign(ctx.dir, 'rs', { iterations: 2, perIteration: 8, labeler: labeler() });
  const r = await runToEnd(ctx, 'rs-1', file);
  expect(r.state).toBe('completed');
  for (const it of [0, 1]) {
    const recs = scored('rs-1', it);
    expect(recs).toHaveLength(32);
    for (const s of recs) {
      expect(s.label_status).toBe('ok');
      expect(s.reward).toBeCloseTo(hiddenReward(textOf(s)), 9);
    }
    const m = JSON.parse(fs.readFileSync(path.join(ctx.dir, 'artifacts', 'rs-1', `iter-00${it}`, 'manifest.json'), 'utf8'));
    expect(m.counts).toMatchObject({ samples: 32, scored: 32 });
    expect(m.feedback.examples_out).toBeGreaterThan(0);
  }
});

test('SIGKILL the score worker mid-labeling: the campaign completes, no reward is lost, and only requests in flight are asked again', async () => {
  const file = writeCampaign(ctx.dir, 'rs-kill', { iterations: 1, perIteration: 16, promptsPerShard: 16, labeler: labeler() });
  const env = cliEnv(ctx.server.address);
  server.faults.stallMs = 150;
  server.stats.scored.clear();
  const others = spawnWorker(env, 'control,sample,train');
  let scorer = spawnWorker(env, 'score');
  try {
    expect(cli(['start', file, '--id', 'rs-kill-1'], env).status).toBe(0);
    await waitFor('a few batches scored', () => server.stats.scored.size >= 24 || null, 120000, 20);
    await killHard(scorer);
    scorer = spawnWorker(env, 'score');
    const result = await ctx.client.workflow.getHandle('rs-kill-1').result();
    expect(result.state).toBe('completed');
    const recs = scored('rs-kill-1', 0);
    expect(recs).toHaveLength(64);
    for (const s of recs) expect(s.reward).toBeCloseTo(hiddenReward(textOf(s)), 9);
    const twice = [...server.stats.scored.values()].filter((n) => n > 1).length;
    expect(twice).toBeLessThanOrEqual(2 * 4); // maxInFlight x batchSize: the batches in flight at the kill
    expect(server.stats.scored.size).toBe(new Set(recs.map(textOf)).size);
  } finally {
    server.faults.stallMs = 0;
    await killHard(scorer);
    await killHard(others);
  }
});
