/**
 * A campaign whose artifacts live in an S3-compatible store (a real SeaweedFS), run by four role
 * workers as separate processes, each with its own cache folder and no shared artifacts path: it
 * completes with the same artifacts (sha256) as the same campaign on local disk; `verify` on the
 * store catches a changed, a missing and an unexpected object.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { S3Store } from '../../activities/store/s3-store';
import { cli, cliEnv, completed, killHard, runToEnd, spawnWorker, useTestServer, writeCampaign } from '../helpers/temporal';
import { MODELS, ROOT, tmpDir } from '../helpers/paths';
import { S3_ADMIN, startS3Server, type S3TestServer } from '../helpers/s3-server';

jest.setTimeout(600_000);

const ctx = useTestServer('alignloop-s3c-');
let s3: S3TestServer;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const awsEnv = { AWS_ACCESS_KEY_ID: S3_ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: S3_ADMIN.secretAccessKey, AWS_REGION: 'us-east-1' };

beforeAll(async () => {
  Object.assign(process.env, awsEnv);
  s3 = await startS3Server(tmpDir('alignloop-s3c-store-'));
  await s3.createBucket('campaigns');
}, 180_000);

afterAll(async () => {
  await s3?.kill();
});

function onStore(file: string, prefix: string): void {
  const text = fs
    .readFileSync(file, 'utf8')
    .replace(/^artifacts: .*$/m, `artifacts: { root: s3://campaigns/${prefix}, endpoint: ${s3.endpoint}, forcePathStyle: true }`);
  fs.writeFileSync(file, text);
}

/** Data artifacts by key: the sample, scored and feedback files and the checkpoints (records name host paths, so they differ). */
const DATA =
  /^iter-\d+\/(prompts\/shard-\d+\.jsonl|samples\/shard-\d+\.jsonl|scored\/shard-\d+\.jsonl|feedback\/feedback\.(jsonl|halos\.json|trl\.jsonl)|train\/checkpoint\.json)$|^initial\/checkpoint\.json$/;

async function storeHashes(store: S3Store, id: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const o of store.list(`${id}/`)) {
    const rel = o.key.slice(id.length + 1);
    if (DATA.test(rel)) out.set(rel, sha(await store.getBytes(o.key)));
  }
  return out;
}

function localHashes(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const rel = path.relative(dir, p).split(path.sep).join('/');
        if (DATA.test(rel)) out.set(rel, sha(fs.readFileSync(p)));
      }
    }
  };
  walk(dir);
  return out;
}

test('four role workers with separate caches and no shared disk complete a campaign on S3 with the artifacts of a local run; verify reads the store', async () => {
  // The same campaign on local disk, for reference.
  const localFile = writeCampaign(ctx.dir, 'same', { iterations: 2, perIteration: 8 });
  await runToEnd(ctx, 'local-ref', localFile);
  const expected = localHashes(path.join(ctx.dir, 'artifacts', 'local-ref'));
  expect(expected.size).toBeGreaterThan(10);

  // The reward model lives in the store too (labeler.model: s3://...): each score host fetches it.
  const upload = new S3Store({ kind: 's3', bucket: 'campaigns', prefix: 'models/bt-rm', endpoint: s3.endpoint, forcePathStyle: true });
  for (const f of fs.readdirSync(MODELS.bt, { recursive: true }) as string[]) {
    if (fs.statSync(path.join(MODELS.bt, f)).isFile()) await upload.putFile(f.split(path.sep).join('/'), path.join(MODELS.bt, f));
  }
  upload.destroy();
  const file = writeCampaign(tmpDir('alignloop-s3c-file-'), 'same', {
    iterations: 2,
    perIteration: 8,
    labeler: '{ kind: reward-model, model: s3://campaigns/models/bt-rm, batchTokens: 8192, threads: 1 }',
  });
  onStore(file, 'team/runs');
  const env0 = cliEnv(ctx.server.address, awsEnv);
  const validated = cli(['validate', file], env0);
  expect(validated.stderr).toBe('');
  expect(validated.status).toBe(0);
  const env = cliEnv(ctx.server.address, awsEnv);
  const caches = ['control', 'sample', 'score', 'train'].map((role) => ({ role, dir: tmpDir(`alignloop-cache-${role}-`) }));
  const workers = caches.map((c) => spawnWorker(env, c.role, ['--cache-dir', c.dir]));
  try {
    const r = cli(['start', file, '--id', 'on-s3'], env);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const result = await completed(ctx.client, 'on-s3');
    expect(result.state).toBe('completed');
  } finally {
    await Promise.all(workers.map(killHard));
  }
  // Nothing was written to a local artifacts root: every host worked in its own cache.
  expect(fs.existsSync(path.join(path.dirname(file), 'artifacts'))).toBe(false);
  for (const c of caches) expect(fs.readdirSync(c.dir)).toContain('alignloop-mirror');
  const sampleHost = path.join(caches[1].dir, 'alignloop-mirror', 'campaigns', 'team', 'runs', 'on-s3', 'iter-000');
  expect(fs.existsSync(path.join(sampleHost, 'feedback'))).toBe(false); // a host fetches what its steps read, not the campaign

  const store = new S3Store({ kind: 's3', bucket: 'campaigns', prefix: 'team/runs', endpoint: s3.endpoint, forcePathStyle: true });
  try {
    expect(await storeHashes(store, 'on-s3')).toEqual(expected);
    // Histories name store keys, never a host's paths.
    const raw = JSON.stringify(await ctx.client.workflow.getHandle('on-s3/iter-1').fetchHistory());
    const history = [...raw.matchAll(/"data":"([A-Za-z0-9+/=]+)"/g)].map((m) => Buffer.from(m[1], 'base64').toString('utf8')).join('\n');
    expect(history).toContain('s3://campaigns/team/runs/on-s3/iter-001/');
    for (const c of caches) expect(history).not.toContain(c.dir);

    const ok = cli(['verify', 'on-s3'], env);
    expect(ok.stdout).toMatch(/ok: every artifact matches its record/);
    expect(ok.status).toBe(0);

    // A changed, a missing and an unexpected object.
    await store.putBytes('on-s3/iter-001/samples/shard-000.jsonl', '{"tampered":true}\n');
    await store.delete('on-s3/iter-000/scored/shard-001.jsonl');
    await store.putBytes('on-s3/iter-001/feedback/extra.jsonl', 'dropped in\n');
    const bad = cli(['verify', 'on-s3'], env);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/changed +s3:\/\/campaigns\/team\/runs\/on-s3\/iter-001\/samples\/shard-000\.jsonl/);
    expect(bad.stdout).toMatch(/missing +s3:\/\/campaigns\/team\/runs\/on-s3\/iter-000\/scored\/shard-001\.jsonl/);
    expect(bad.stdout).toMatch(/unexpected s3:\/\/campaigns\/team\/runs\/on-s3\/iter-001\/feedback\/extra\.jsonl/);
  } finally {
    store.destroy();
  }
});

test('an evaluated campaign on S3: the baseline made in iteration 0 is read by later evaluations after the hosts dropped their copies of it; the metrics equal a local run', async () => {
  const evalPrompts = path.join(ROOT, 'examples', 'quickstart', 'eval-prompts.jsonl');
  const extra = `eval: { prompts: ${evalPrompts}, samplesPerPrompt: 2, seed: 7 }`;
  const localFile = writeCampaign(ctx.dir, 'judged-ev', { iterations: 4, perIteration: 8, extra });
  await runToEnd(ctx, 'ev-local', localFile);
  const metrics = (dir: (i: number) => string) =>
    [0, 1, 2, 3].map((i) => JSON.parse(fs.readFileSync(dir(i), 'utf8')) as { win_rate?: unknown; metrics?: unknown });
  const expected = metrics((i) => path.join(ctx.dir, 'artifacts', 'ev-local', `iter-00${i}`, 'eval', 'metrics.json'));

  const file = writeCampaign(tmpDir('alignloop-s3c-file-'), 'judged-ev', { iterations: 4, perIteration: 8, extra });
  onStore(file, 'team/evals');
  const env = cliEnv(ctx.server.address, awsEnv);
  // A fresh host for every role, and the sample and score hosts replaced between iterations.
  const workers = ['control', 'sample', 'score', 'train'].map((role) => spawnWorker(env, role, ['--cache-dir', tmpDir(`alignloop-cache-${role}-`)]));
  try {
    expect(cli(['start', file, '--id', 'ev-s3'], env).status).toBe(0);
    expect((await completed(ctx.client, 'ev-s3')).state).toBe('completed');
  } finally {
    await Promise.all(workers.map(killHard));
  }
  const store = new S3Store({ kind: 's3', bucket: 'campaigns', prefix: 'team/evals', endpoint: s3.endpoint, forcePathStyle: true });
  try {
    const got = await Promise.all([0, 1, 2, 3].map(async (i) => JSON.parse((await store.getBytes(`ev-s3/iter-00${i}/eval/metrics.json`)).toString('utf8'))));
    const strip = (m: Record<string, unknown>) => JSON.stringify(m, (k, v) => (k === 'path' || k === 'campaign' || /seconds|_at$|At$/.test(k) ? undefined : v));
    expect(got.map(strip)).toEqual(expected.map((m) => strip(m as Record<string, unknown>)));
  } finally {
    store.destroy();
  }
  const best = cli(['best', 'ev-s3'], env);
  expect(best.status).toBe(0);
  expect(best.stdout).toContain('s3://campaigns/team/evals/ev-s3/iter-00');
});
