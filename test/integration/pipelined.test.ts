/**
 * Iterations that overlap (schedule.maxPolicyLag): lag 0 is today's schedule byte for byte; lag 1
 * samples the next iteration while this one trains, and every shard records a checkpoint within the bound.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cli, cliEnv, filesUnder, runToEnd, ServerContext, startTestServer, testClient, useTestServer, writeCampaign } from '../helpers/temporal';

jest.setTimeout(900_000);

const ctx = useTestServer('alignloop-pipelined-');

const iterDir = (root: string, i: number) => path.join(root, `iter-${String(i).padStart(3, '0')}`);
const manifestOf = (root: string, i: number) => JSON.parse(fs.readFileSync(path.join(iterDir(root, i), 'manifest.json'), 'utf8'));
const doneOf = (file: string) => JSON.parse(fs.readFileSync(`${file}.done.json`, 'utf8'));

/** Each sample shard's completion record, by iteration. */
function sampleShards(root: string, i: number): { file: string; extra: Record<string, unknown> }[] {
  const dir = path.join(iterDir(root, i), 'samples');
  return fs
    .readdirSync(dir)
    .filter((f) => /^shard-\d+\.jsonl$/.test(f))
    .sort()
    .map((f) => ({ file: f, extra: doneOf(path.join(dir, f)).extra }));
}

/** Every artifact except the record of whose campaign folder it is (it names the workflow run). */
const COMPARED = (rel: string) => !rel.startsWith('campaign.identity');

const over = { iterations: 3, perIteration: 8, epochs: 20 };

test('lag 0 gives the artifacts of a campaign file without a schedule, byte for byte (wall times aside)', async () => {
  // The same campaign id and folder, so paths (and so hashes) can match: the plain run on this
  // server, its artifacts moved aside, then the lag-0 run on a second server.
  const dir = path.join(ctx.dir, 'same');
  fs.mkdirSync(dir);
  const a = await runToEnd(ctx, 'same', writeCampaign(dir, 'same', over));
  expect(a.state).toBe('completed');
  const rootA = path.join(ctx.dir, 'plain-artifacts');
  fs.renameSync(path.join(dir, 'artifacts'), rootA);
  const second = { dir: ctx.dir, server: await startTestServer(path.join(ctx.dir, 'second.db')) } as ServerContext;
  second.client = await testClient(second.server.address);
  try {
    const b = await runToEnd(second, 'same', writeCampaign(dir, 'same', { ...over, extra: 'schedule: { maxPolicyLag: 0 }' }));
    expect(b.state).toBe('completed');
    // Same workflows: one child iteration workflow per iteration, as before.
    const ids: string[] = [];
    for await (const w of second.client.workflow.list({ query: `WorkflowId STARTS_WITH "same/"` })) ids.push(w.workflowId);
    expect(ids.sort()).toEqual(['same/iter-0', 'same/iter-1', 'same/iter-2']);
  } finally {
    await second.client.connection.close();
    await second.server.kill();
  }
  const rootB = path.join(dir, 'artifacts');
  const fa = filesUnder(path.join(rootA, 'same'), COMPARED);
  const fb = filesUnder(path.join(rootB, 'same'), COMPARED);
  expect([...fb.keys()].sort()).toEqual([...fa.keys()].sort());
  expect(fa.size).toBeGreaterThan(20);
  // Manifests record wall times (and their completion records the manifest's hash): compared without them.
  const timeless = (text: string) => ({ ...JSON.parse(text), timings_seconds: null, started_at: null });
  const recordOf = (text: string) => {
    const r = JSON.parse(text);
    return { ...r, ref: { ...r.ref, sha256: null, bytes: null }, extra: { ...r.extra, wallSeconds: null } };
  };
  for (const [rel, buf] of fa) {
    const [x, y] = [buf.toString('latin1'), fb.get(rel)!.toString('latin1')];
    if (rel.endsWith('manifest.json')) expect({ rel, manifest: timeless(y) }).toEqual({ rel, manifest: timeless(x) });
    else if (rel.endsWith('manifest.json.done.json')) expect({ rel, record: recordOf(y) }).toEqual({ rel, record: recordOf(x) });
    else expect({ rel, same: buf.equals(fb.get(rel)!) }).toEqual({ rel, same: true });
  }
  for (let i = 0; i < 3; i++) {
    expect(manifestOf(path.join(rootB, 'same'), i).policy_lag).toBeUndefined();
    for (const sh of sampleShards(path.join(rootB, 'same'), i)) expect(sh.extra.sampledFrom).toBeUndefined();
  }
});

test('lag 1 on the quickstart completes; every shard records a checkpoint within the bound, and the manifest the lag', async () => {
  const dir = path.join(ctx.dir, 'lag1');
  fs.mkdirSync(dir);
  const iterations = 4;
  const r = await runToEnd(ctx, 'lag1', writeCampaign(dir, 'lag1', { ...over, iterations, extra: 'schedule: { maxPolicyLag: 1 }' }));
  expect(r.state).toBe('completed');
  expect(r.summaries.map((s: { iteration: number }) => s.iteration)).toEqual([0, 1, 2, 3]);
  const root = path.join(dir, 'artifacts', 'lag1');
  for (let i = 0; i < iterations; i++) {
    const m = manifestOf(root, i);
    // The checkpoint iteration i trains from is version i: the initial policy, or iteration i-1's output.
    const trainsFrom = i === 0 ? m.lineage.policy_in : manifestOf(root, i - 1).lineage.checkpoint_out;
    expect(m.lineage.policy_in).toEqual(trainsFrom);
    const shards = sampleShards(root, i);
    expect(shards.length).toBe(2);
    for (const s of shards) {
      const from = s.extra.sampledFrom as { checkpoint: string; sha256: string; version: number };
      expect(i - from.version).toBeGreaterThanOrEqual(0);
      expect(i - from.version).toBeLessThanOrEqual(1);
      // The recorded checkpoint is the one that version names (version v = iteration v-1's output).
      const expected = from.version === 0 ? manifestOf(root, 0).lineage.policy_in : manifestOf(root, from.version - 1).lineage.checkpoint_out;
      expect({ path: from.checkpoint, sha256: from.sha256 }).toEqual({ path: expected.path, sha256: expected.sha256 });
    }
    // Iteration 0 has nothing to overlap with; every later one sampled while the one before trained.
    const lag = i === 0 ? 0 : 1;
    expect(m.policy_lag).toMatchObject({ trains_from_version: i, min: lag, max: lag });
    expect(r.summaries[i].policyLag).toEqual({ min: lag, max: lag });
  }
  // history, audit and report show the lag.
  const env = cliEnv(ctx.server.address);
  const h = cli(['history', 'lag1'], env);
  expect(h.status).toBe(0);
  const header = h.stdout.split('\n')[0].trim().split(/\s+/);
  expect(header[header.length - 1]).toBe('lag');
  expect(
    h.stdout
      .split('\n')
      .slice(1, 5)
      .map((l) => l.trim().split(/\s+/).pop()),
  ).toEqual(['0', '1', '1', '1']);
  expect(JSON.parse(cli(['history', 'lag1', '--json'], env).stdout)[2].policyLag).toEqual({ min: 1, max: 1 });
  const audit = JSON.parse(cli(['audit', 'lag1', '--iteration', '2', '--example', '0', '--json'], env).stdout);
  expect(audit.samples.length).toBeGreaterThan(0);
  for (const s of audit.samples) expect(s.sampled_from).toMatchObject({ version: 1, lag: 1, sha256: manifestOf(root, 0).lineage.checkpoint_out.sha256 });
  expect(cli(['audit', 'lag1', '--iteration', '2', '--example', '0'], env).stdout).toMatch(/sampled from checkpoint version 1 \(lag 1\)/);
  const html = path.join(dir, 'report.html');
  expect(cli(['report', 'lag1', '--out', html], env).status).toBe(0);
  expect(fs.readFileSync(html, 'utf8')).toMatch(/policy lag<\/th>/);
  // The halves ran as their own child workflows; sampling of iteration i+1 started before iteration i's training ended.
  for (let i = 0; i + 1 < iterations; i++) {
    const learn = await ctx.client.workflow.getHandle(`lag1/iter-${i}/learn`).describe();
    const gather = await ctx.client.workflow.getHandle(`lag1/iter-${i + 1}/gather`).describe();
    expect(gather.startTime.getTime()).toBeLessThan(learn.closeTime!.getTime());
  }
});

test('overlapping iterations continue-as-new after every iteration: each run carries the same small state and a bounded history', async () => {
  const dir = path.join(ctx.dir, 'long');
  fs.mkdirSync(dir);
  const file = writeCampaign(dir, 'long', { iterations: 26, perIteration: 2, promptsPerShard: 2, epochs: 1, extra: 'schedule: { maxPolicyLag: 1 }' });
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/^prompts: \{(.*)\}$/m, 'prompts: {$1, reuse: true }'));
  const result = await runToEnd(ctx, 'long', file);
  expect(result.state).toBe('completed');
  const sizes: number[] = [];
  const events: number[] = [];
  for await (const w of ctx.client.workflow.list({ query: `WorkflowId = 'long'` })) {
    const h = await ctx.client.workflow.getHandle('long', w.runId).fetchHistory();
    sizes.push(h.events![0].workflowExecutionStartedEventAttributes!.input!.payloads![0].data!.length);
    events.push(h.events!.length);
  }
  expect(sizes).toHaveLength(26);
  sizes.sort((x, y) => x - y);
  // Runs 21..26 carry 20 summaries and one iteration gathered ahead: within a few bytes of each other.
  expect(sizes[25] - sizes[20]).toBeLessThan(256);
  // A run starts at most two children (this iteration's learn, the next one's gather): its history does not grow with the campaign.
  expect(Math.max(...events)).toBeLessThan(60);
});

test('lag 2: every shard records a checkpoint at most two versions behind, and the manifest agrees with its shards', async () => {
  const dir = path.join(ctx.dir, 'lag2');
  fs.mkdirSync(dir);
  const iterations = 5;
  const r = await runToEnd(ctx, 'lag2', writeCampaign(dir, 'lag2', { ...over, iterations, extra: 'schedule: { maxPolicyLag: 2 }' }));
  expect(r.state).toBe('completed');
  const root = path.join(dir, 'artifacts', 'lag2');
  for (let i = 0; i < iterations; i++) {
    const behind = sampleShards(root, i).map((s) => i - (s.extra.sampledFrom as { version: number }).version);
    for (const b of behind) expect(b >= 0 && b <= 2).toBe(true);
    expect(manifestOf(root, i).policy_lag).toMatchObject({ trains_from_version: i, min: Math.min(...behind), max: Math.max(...behind) });
  }
});
