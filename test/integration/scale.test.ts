/**
 * Scale: shards run as a bounded pipeline (a shard is labeled as soon as it is sampled, at most
 * sharding.maxInFlightShards in flight), count-based stage inputs, and a carried state that does not
 * grow with the number of iterations.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cli, cliAsync, cliEnv, filesUnder, killHard, runToEnd as runToEndIn, spawnWorker, useTestServer, writeCampaign } from '../helpers/temporal';

jest.setTimeout(600_000);

const ctx = useTestServer('alignloop-scale-');

interface ActivityEvent {
  type: string;
  shard: number | null;
  kind: 'scheduled' | 'closed';
}

/** The iteration workflow's activity schedule/close events, in history order. */
async function activityEvents(workflowId: string): Promise<ActivityEvent[]> {
  const h = await ctx.client.workflow.getHandle(workflowId).fetchHistory();
  const scheduled = new Map<string, { type: string; shard: number | null }>();
  const out: ActivityEvent[] = [];
  for (const e of h.events ?? []) {
    const a = e.activityTaskScheduledEventAttributes;
    if (a) {
      const input = JSON.parse(Buffer.from(a.input!.payloads![0].data!).toString('utf8')) as { shard?: number };
      const rec = { type: a.activityType!.name!, shard: input.shard ?? null };
      scheduled.set(String(e.eventId), rec);
      out.push({ ...rec, kind: 'scheduled' });
    }
    const end = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
    if (end) out.push({ ...scheduled.get(String(end.scheduledEventId))!, kind: 'closed' });
  }
  return out;
}

const run = (id: string, file: string) => runToEndIn(ctx, id, file);

describe('shards as a bounded pipeline', () => {
  test('window 1: each shard is labeled right after it is sampled; the artifacts equal a wide-window run byte for byte', async () => {
    const narrow = writeCampaign(ctx.dir, 'narrow', {
      iterations: 2,
      perIteration: 16,
      promptsPerShard: 4,
      extra: 'sharding: { promptsPerShard: 4, maxInFlightShards: 1 }',
    });
    // writeCampaign writes its own sharding line; the last one wins only if YAML allowed duplicates, so rewrite it.
    fs.writeFileSync(narrow, fs.readFileSync(narrow, 'utf8').replace(/^sharding: \{ promptsPerShard: 4 \}\n/m, ''));
    expect((await run('narrow-1', narrow)).state).toBe('completed');
    const events = (await activityEvents('narrow-1/iter-0')).filter((e) => e.type === 'sampleShard' || e.type === 'scoreShard');
    expect(events.map((e) => `${e.kind} ${e.type} ${e.shard}`)).toEqual(
      [0, 1, 2, 3].flatMap((k) => [`scheduled sampleShard ${k}`, `closed sampleShard ${k}`, `scheduled scoreShard ${k}`, `closed scoreShard ${k}`]),
    );

    const wide = writeCampaign(ctx.dir, 'wide', { iterations: 2, perIteration: 16, promptsPerShard: 4 });
    expect((await run('wide-1', wide)).state).toBe('completed');
    const keep = (rel: string) => /\/(samples|scored|feedback|train)\//.test(`/${rel}`) && !rel.endsWith('.done.json') && !rel.includes('progress');
    const a = filesUnder(path.join(ctx.dir, 'artifacts', 'narrow-1'), keep);
    const b = filesUnder(path.join(ctx.dir, 'artifacts', 'wide-1'), keep);
    expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
    expect(a.size).toBeGreaterThan(10);
    for (const [k, v] of a) expect(v.equals(b.get(k)!)).toBe(true);
  });

  test('never more shard activities pending than the window, and labeling overlaps sampling', async () => {
    const file = writeCampaign(ctx.dir, 'win3', { iterations: 1, perIteration: 32, promptsPerShard: 2 });
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/^sharding: .*$/m, 'sharding: { promptsPerShard: 2, maxInFlightShards: 3 }'));
    expect((await run('win3-1', file)).state).toBe('completed');
    const events = (await activityEvents('win3-1/iter-0')).filter((e) => e.type === 'sampleShard' || e.type === 'scoreShard');
    let pending = 0;
    let most = 0;
    for (const e of events) {
      pending += e.kind === 'scheduled' ? 1 : -1;
      most = Math.max(most, pending);
    }
    expect(most).toBeLessThanOrEqual(3);
    expect(events.filter((e) => e.kind === 'closed' && e.type === 'scoreShard')).toHaveLength(16);
    const firstScore = events.findIndex((e) => e.type === 'scoreShard');
    const lastSample = events.map((e) => e.type).lastIndexOf('sampleShard');
    expect(firstScore).toBeLessThan(lastSample);
    const m = JSON.parse(fs.readFileSync(path.join(ctx.dir, 'artifacts', 'win3-1', 'iter-000', 'manifest.json'), 'utf8'));
    expect(m.counts).toMatchObject({ prompts_in: 32, samples: 128, scored: 128 });
    expect(m.artifacts.samples).toHaveLength(16);
  });
});

describe('score worker slots', () => {
  /**
   * The most scoreShard activities of an iteration that ran at the same time. The server writes a
   * retryable activity's started event when it closes, with the time it really started: so by event times.
   */
  async function mostScoringAtOnce(workflowId: string): Promise<number> {
    const h = await ctx.client.workflow.getHandle(workflowId).fetchHistory();
    const at = (t: unknown) => {
      const { seconds, nanos } = t as { seconds?: unknown; nanos?: number | null };
      return Number(seconds ?? 0) * 1e3 + (nanos ?? 0) / 1e6;
    };
    const types = new Map<string, string>();
    const started = new Map<string, number>();
    const edges: [number, number][] = [];
    for (const e of h.events ?? []) {
      const a = e.activityTaskScheduledEventAttributes;
      if (a) types.set(String(e.eventId), a.activityType!.name!);
      const st = e.activityTaskStartedEventAttributes;
      if (st && types.get(String(st.scheduledEventId)) === 'scoreShard') started.set(String(st.scheduledEventId), at(e.eventTime));
      const end = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
      const t0 = end && started.get(String(end.scheduledEventId));
      if (t0 !== undefined && t0 !== null) edges.push([t0, 1], [at(e.eventTime), -1]);
    }
    let running = 0;
    let most = 0;
    for (const [, d] of edges.sort((x, y) => x[0] - y[0] || x[1] - y[1])) most = Math.max(most, (running += d));
    return most;
  }

  test('a score worker scores a second shard while one is scored (sharing its session); --score-slots 1 one at a time; the same scores', async () => {
    const outcomes: { most: number; scored: Map<string, Buffer> }[] = [];
    for (const slots of [null, '1']) {
      const id = `slots-${slots ?? 'default'}`;
      const file = writeCampaign(ctx.dir, id, { iterations: 1, perIteration: 16, promptsPerShard: 2, batchTokens: 64 });
      const env = cliEnv(ctx.server.address);
      // Batches slowed on the score worker only, so scoring shards queue up behind it.
      const workers = [
        spawnWorker(env, 'control,sample,train'),
        spawnWorker({ ...env, ALIGNLOOP_TEST_SLOW_MS: '40' }, 'score', slots ? ['--score-slots', slots] : []),
      ];
      try {
        expect(cli(['start', file, '--id', id], env).status).toBe(0);
        expect((await ctx.client.workflow.getHandle(id).result()).state).toBe('completed');
      } finally {
        await Promise.all(workers.map(killHard));
      }
      const scored = filesUnder(path.join(ctx.dir, 'artifacts', id), (rel) => /scored\/shard-\d+\.jsonl$/.test(rel));
      outcomes.push({ most: await mostScoringAtOnce(`${id}/iter-0`), scored });
    }
    expect(outcomes.map((o) => o.most)).toEqual([2, 1]);
    const [a, b] = outcomes.map((o) => o.scored);
    expect(a.size).toBe(8);
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [k, v] of a) expect({ k, same: v.equals(b.get(k)!) }).toEqual({ k, same: true });
  });

  test('--score-slots takes a positive integer', () => {
    const r = cli(['worker', '--score-slots', '0'], cliEnv(ctx.server.address));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--score-slots.*must be a positive integer, got "0"/);
  });
});

describe('carried state', () => {
  test('the continue-as-new state does not grow with the iterations (summaries live in the manifests)', async () => {
    const file = writeCampaign(ctx.dir, 'long', { iterations: 26, perIteration: 2, promptsPerShard: 2, epochs: 1, extra: '' });
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/^prompts: \{(.*)\}$/m, 'prompts: {$1, reuse: true }'));
    const result = await run('long-1', file);
    expect(result.state).toBe('completed');
    expect(result.summaries).toHaveLength(20); // the most recent ones; all 26 are in the manifests
    const sizes: number[] = [];
    for await (const w of ctx.client.workflow.list({ query: `WorkflowId = 'long-1'` })) {
      const h = await ctx.client.workflow.getHandle('long-1', w.runId).fetchHistory();
      sizes.push(h.events![0].workflowExecutionStartedEventAttributes!.input!.payloads![0].data!.length);
    }
    expect(sizes).toHaveLength(26);
    sizes.sort((x, y) => x - y);
    // Runs 21..26 carry 20 summaries each: the largest state is within a few bytes of the 21st run's.
    expect(sizes[25] - sizes[20]).toBeLessThan(64);
    const h = cli(['history', 'long-1', '--json'], cliEnv(ctx.server.address));
    expect(h.status).toBe(0);
    expect(JSON.parse(h.stdout).iterations ?? JSON.parse(h.stdout)).toHaveLength(26);
  });
});

describe('status --watch', () => {
  test('follows a running campaign with a line per change when not a terminal, and ends with it', async () => {
    const file = writeCampaign(ctx.dir, 'watched', { iterations: 2, perIteration: 16, promptsPerShard: 2 });
    const env = cliEnv(ctx.server.address, { ALIGNLOOP_TEST_SLOW_MS: '60' });
    const worker = spawnWorker(env);
    try {
      expect(cli(['start', file, '--id', 'watched-1'], env).status).toBe(0);
      const w = await cliAsync(['status', 'watched-1', '--watch', '--interval', '0.2'], env);
      expect(w.status).toBe(0);
      const lines = w.stdout.trim().split('\n');
      expect(lines.length).toBeGreaterThan(3);
      expect(lines.at(-1)).toMatch(/watched-1 completed/);
      // It looked while the campaign ran (a fresh worker and two slowed iterations take seconds), saw
      // the second iteration, and every line names the stages with their shard counts.
      expect(lines[0]).toMatch(/watched-1 running/);
      expect(lines.some((l) => / iteration 1 /.test(l))).toBe(true);
      for (const l of lines.slice(0, -1)) if (/ iteration \d+ /.test(l)) expect(l).toMatch(/sample \d+\/8 label \d+\/8 feedback [01]\/1/);
    } finally {
      await killHard(worker);
    }
    const bad = cli(['status', '--watch'], cliEnv(ctx.server.address));
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--watch follows one campaign/);
  });
});
