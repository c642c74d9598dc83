import * as fs from 'node:fs';
import * as path from 'node:path';
import { cli, cliEnv, filesUnder, killHard, spawnWorker, startTestServer, testClient, useTestServer, waitFor, writeCampaign } from '../helpers/temporal';

jest.setTimeout(900_000);

const ctx = useTestServer('alignloop-chaos-');

const OUTPUTS = (rel: string) => /feedback\/feedback\.|train\/checkpoint\.json$|scored\/shard-\d+\.jsonl$|samples\/shard-\d+\.jsonl$/.test(rel);

function doneManifests(root: string): Map<string, { mtimeMs: number; body: string }> {
  const out = new Map<string, { mtimeMs: number; body: string }>();
  for (const [rel, buf] of filesUnder(root, (r) => r.endsWith('.done.json')))
    out.set(rel, { mtimeMs: fs.statSync(path.join(root, rel)).mtimeMs, body: buf.toString() });
  return out;
}

function expectUntouched(before: Map<string, { mtimeMs: number; body: string }>, root: string): void {
  for (const [rel, b] of before) {
    const now = fs.statSync(path.join(root, rel));
    expect({ rel, mtimeMs: now.mtimeMs, body: fs.readFileSync(path.join(root, rel), 'utf8') }).toEqual({ rel, mtimeMs: b.mtimeMs, body: b.body });
  }
}

const progressLines = (f: string) =>
  fs.existsSync(f)
    ? fs
        .readFileSync(f, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{')).length
    : 0;

test('SIGKILL the worker during labeling and during training: the campaign completes, outputs are byte-identical, no completed shard is redone', async () => {
  // An uninterrupted reference run with the same seeds.
  const refDir = path.join(ctx.dir, 'ref');
  fs.mkdirSync(refDir);
  const over = { iterations: 3, perIteration: 16, batchTokens: 64, epochs: 60 };
  const ref = cli(['run', writeCampaign(refDir, 'chaos', over), '--id', 'chaos-ref'], cliEnv(ctx.server.address), refDir);
  expect(ref.status).toBe(0);

  const runDir = path.join(ctx.dir, 'run');
  fs.mkdirSync(runDir);
  const file = writeCampaign(runDir, 'chaos', over);
  const root = path.join(runDir, 'artifacts', 'chaos-run');
  const slowEnv = cliEnv(ctx.server.address, { ALIGNLOOP_TEST_SLOW_MS: '100' });
  let worker = spawnWorker(slowEnv);
  expect(cli(['start', file, '--id', 'chaos-run'], slowEnv).status).toBe(0);

  // 1. Kill during labeling of iteration 1, once a shard has persisted a few batches.
  const scoredDir = path.join(root, 'iter-001', 'scored');
  const partial = await waitFor('a scoring shard in progress', () => {
    if (!fs.existsSync(scoredDir)) return null;
    const p = fs.readdirSync(scoredDir).find((f) => f.endsWith('.progress'));
    return p && progressLines(path.join(scoredDir, p)) >= 3 ? path.join(scoredDir, p) : null;
  });
  await killHard(worker);
  const batchesBefore = progressLines(partial);
  const doneAtKill1 = doneManifests(root);
  expect(fs.existsSync(partial.replace(/\.progress$/, ''))).toBe(false);
  const killedAt = Date.now();
  worker = spawnWorker(slowEnv);
  // the shard resumes: its progress file keeps its batches and grows from there
  await waitFor('the killed shard to resume', () => !fs.existsSync(partial) || progressLines(partial) > batchesBefore, 120000);
  const resumeSeconds = (Date.now() - killedAt) / 1000;

  // 2. Kill during training of iteration 2, once an epoch checkpoint exists.
  const trainProgress = path.join(root, 'iter-002', 'train', 'progress.json');
  await waitFor('training in progress', () => fs.existsSync(trainProgress) && JSON.parse(fs.readFileSync(trainProgress, 'utf8')).epoch >= 10, 300000);
  await killHard(worker);
  const doneAtKill2 = doneManifests(root);
  const epochAtKill = JSON.parse(fs.readFileSync(trainProgress, 'utf8')).epoch;
  worker = spawnWorker(cliEnv(ctx.server.address));
  try {
    const result = await ctx.client.workflow.getHandle('chaos-run').result();
    expect(result.state).toBe('completed');
  } finally {
    await killHard(worker);
  }

  // Completed shards were never redone: their completion manifests are untouched.
  expectUntouched(doneAtKill1, root);
  expectUntouched(doneAtKill2, root);
  // The killed shard reused the batches its progress file kept (the first line is the header; a torn last line is redone).
  const shardDone = JSON.parse(fs.readFileSync(partial.replace(/\.progress$/, '.done.json'), 'utf8'));
  expect(shardDone.extra.batchesResumed).toBeGreaterThanOrEqual(batchesBefore - 2);
  expect(shardDone.extra.batchesResumed).toBeLessThanOrEqual(batchesBefore - 1);
  expect(shardDone.extra.batchesResumed).toBeGreaterThan(0);
  const trainDone = JSON.parse(fs.readFileSync(path.join(root, 'iter-002', 'train', 'checkpoint.json.done.json'), 'utf8'));
  expect(trainDone.extra.resumedFromEpoch).toBeGreaterThanOrEqual(epochAtKill - 5);
  expect(trainDone.extra.resumedFromEpoch).toBeGreaterThan(0);

  // Samples, scores, feedback and checkpoints equal the uninterrupted run byte for byte.
  const a = filesUnder(path.join(refDir, 'artifacts', 'chaos-ref'), OUTPUTS);
  const b = filesUnder(root, OUTPUTS);
  expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
  expect(a.size).toBeGreaterThan(30);
  for (const [rel, buf] of a) expect({ rel, same: buf.equals(b.get(rel)!) }).toEqual({ rel, same: true });
  console.log(
    `chaos: labeling kill resumed after ${resumeSeconds.toFixed(1)} s (heartbeat timeout 3 s); ${batchesBefore} batches kept; training resumed from epoch ${trainDone.extra.resumedFromEpoch}`,
  );
});

test('stop the dev server mid-campaign and start it again on the same SQLite file: the campaign completes', async () => {
  const runDir = path.join(ctx.dir, 'restart');
  fs.mkdirSync(runDir);
  const file = writeCampaign(runDir, 'restart', { iterations: 3, perIteration: 8 });
  const env = cliEnv(ctx.server.address, { ALIGNLOOP_TEST_SLOW_MS: '30' });
  let worker = spawnWorker(env);
  expect(cli(['start', file, '--id', 'restart-1'], env).status).toBe(0);
  await waitFor('iteration 0 manifest', () => fs.existsSync(path.join(runDir, 'artifacts', 'restart-1', 'iter-000', 'manifest.json')), 120000);
  await ctx.client.connection.close();
  await ctx.server.kill('SIGKILL');
  await killHard(worker); // a worker would reconnect by itself; a fresh one proves nothing was kept in memory
  ctx.server = await startTestServer(ctx.server.dbFile, { port: ctx.server.port, uiPort: ctx.server.uiPort });
  ctx.client = await testClient(ctx.server.address);
  worker = spawnWorker(env);
  try {
    const result = await ctx.client.workflow.getHandle('restart-1').result();
    expect(result.state).toBe('completed');
    expect(result.summaries.map((s: { iteration: number }) => s.iteration)).toEqual([0, 1, 2]);
  } finally {
    await killHard(worker);
  }
});
