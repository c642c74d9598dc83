/**
 * Iterations that overlap (schedule.maxPolicyLag: 1), with workers per role that really die:
 * SIGKILL the sampling/labeling worker while the previous iteration trains, and the train worker
 * while the next iteration labels. The campaign completes, nothing finished is redone, and every
 * output equals an uninterrupted lag-1 run's byte for byte.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cli, cliEnv, filesUnder, killHard, runToEnd, spawnWorker, useTestServer, waitFor, writeCampaign } from '../helpers/temporal';

jest.setTimeout(900_000);

const ctx = useTestServer('alignloop-pipelined-chaos-');

const OUTPUTS = (rel: string) => /feedback\/feedback\.|train\/checkpoint\.json$|scored\/shard-\d+\.jsonl$|samples\/shard-\d+\.jsonl$|manifest\.json$/.test(rel);
const iterDir = (root: string, i: number) => path.join(root, `iter-${String(i).padStart(3, '0')}`);

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

const lines = (f: string) =>
  fs.existsSync(f)
    ? fs
        .readFileSync(f, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{')).length
    : 0;
const epoch = (root: string, i: number) => {
  const f = path.join(iterDir(root, i), 'train', 'progress.json');
  try {
    return JSON.parse(fs.readFileSync(f, 'utf8')).epoch as number;
  } catch {
    return -1;
  }
};
/** A labeling shard of iteration i with at least n batches persisted, if any. */
const labeling = (root: string, i: number, n: number) => {
  const dir = path.join(iterDir(root, i), 'scored');
  if (!fs.existsSync(dir)) return null;
  const p = fs.readdirSync(dir).find((f) => f.endsWith('.progress') && lines(path.join(dir, f)) >= n);
  return p ? path.join(dir, p) : null;
};

test('SIGKILL the sampling/labeling worker while the previous iteration trains, and the train worker while the next labels: completes, nothing redone, equal to an uninterrupted lag-1 run', async () => {
  const over = { iterations: 4, perIteration: 16, batchTokens: 64, epochs: 60, extra: 'schedule: { maxPolicyLag: 1 }' };
  const refDir = path.join(ctx.dir, 'ref');
  fs.mkdirSync(refDir);
  const ref = await runToEnd(ctx, 'ov-ref', writeCampaign(refDir, 'overlap', over));
  expect(ref.state).toBe('completed');

  const runDir = path.join(ctx.dir, 'run');
  fs.mkdirSync(runDir);
  const file = writeCampaign(runDir, 'overlap', over);
  const root = path.join(runDir, 'artifacts', 'ov-run');
  const slow = cliEnv(ctx.server.address, { ALIGNLOOP_TEST_SLOW_MS: '100' });
  const control = spawnWorker(slow, 'control');
  let gatherer = spawnWorker(slow, 'sample,score');
  let trainer = spawnWorker(slow, 'train');
  try {
    expect(cli(['start', file, '--id', 'ov-run'], slow).status).toBe(0);

    // 1. Iteration 1 trains while iteration 2 labels: kill the sampling/labeling worker.
    const partial = await waitFor('iteration 2 labeling while iteration 1 trains', () => (epoch(root, 1) >= 0 ? labeling(root, 2, 3) : null), 300000);
    await killHard(gatherer);
    const doneAtKill1 = doneManifests(root);
    expect(fs.existsSync(path.join(iterDir(root, 1), 'manifest.json'))).toBe(false); // iteration 1 was still training
    gatherer = spawnWorker(slow, 'sample,score');
    await waitFor('the killed shard to finish', () => fs.existsSync(partial.replace(/\.progress$/, '.done.json')), 300000);

    // 2. Iteration 2 trains while iteration 3 labels: kill the train worker.
    await waitFor('iteration 2 training while iteration 3 labels', () => epoch(root, 2) >= 10 && labeling(root, 3, 1) !== null, 300000);
    await killHard(trainer);
    const epochAtKill2 = epoch(root, 2);
    const doneAtKill2 = doneManifests(root);
    trainer = spawnWorker(cliEnv(ctx.server.address), 'train');

    const result = await ctx.client.workflow.getHandle('ov-run').result();
    expect(result.state).toBe('completed');
    expect(result.summaries.map((s: { iteration: number }) => s.iteration)).toEqual([0, 1, 2, 3]);
    // Nothing finished was redone.
    expectUntouched(doneAtKill1, root);
    expectUntouched(doneAtKill2, root);
    const shardDone = JSON.parse(fs.readFileSync(partial.replace(/\.progress$/, '.done.json'), 'utf8'));
    expect(shardDone.extra.batchesResumed).toBeGreaterThan(0);
    const train2 = JSON.parse(fs.readFileSync(path.join(iterDir(root, 2), 'train', 'checkpoint.json.done.json'), 'utf8'));
    expect(train2.extra.resumedFromEpoch).toBeGreaterThan(0);
    expect(train2.extra.resumedFromEpoch).toBeLessThanOrEqual(epochAtKill2);
  } finally {
    await killHard(control);
    await killHard(gatherer);
    await killHard(trainer);
  }

  // Samples, scores, feedback, checkpoints equal the uninterrupted run's byte for byte; manifests but for
  // wall times and where training resumed (its first loss is the resumed attempt's).
  const a = filesUnder(path.join(refDir, 'artifacts', 'ov-ref'), OUTPUTS);
  const b = filesUnder(root, OUTPUTS);
  expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
  expect(a.size).toBeGreaterThan(40);
  const timeless = (buf: Buffer, dir: string, id: string) => {
    const m = JSON.parse(buf.toString().replaceAll(dir, '<root>').replaceAll(id, '<id>'));
    return { ...m, timings_seconds: null, started_at: null, train: { ...m.train, resumedFromEpoch: null, firstLoss: null } };
  };
  for (const [rel, buf] of a) {
    if (rel.endsWith('manifest.json')) expect({ rel, m: timeless(b.get(rel)!, runDir, 'ov-run') }).toEqual({ rel, m: timeless(buf, refDir, 'ov-ref') });
    else expect({ rel, same: buf.equals(b.get(rel)!) }).toEqual({ rel, same: true });
  }
});
