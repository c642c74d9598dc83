/**
 * Store-backed campaigns under faults, with role workers as separate processes that share no disk:
 * a train worker SIGKILLed while it uploads a checkpoint (multipart), a score worker SIGKILLed right
 * after it wrote, the S3 server restarted in the middle of an iteration. Nothing half-written is
 * ever visible as complete, and each campaign completes with the artifacts of an undisturbed run.
 */
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { S3Store } from '../../activities/store/s3-store';
import { tmpDir, ROOT } from '../helpers/paths';
import { S3_ADMIN, startS3Server, type S3TestServer } from '../helpers/s3-server';
import { cli, cliEnv, completed, killHard, spawnWorker, useTestServer, waitFor, writeCampaign } from '../helpers/temporal';

jest.setTimeout(900_000);

const ctx = useTestServer('alignloop-s3x-');
let s3: S3TestServer;
let store: S3Store;
const awsEnv = { AWS_ACCESS_KEY_ID: S3_ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: S3_ADMIN.secretAccessKey, AWS_REGION: 'us-east-1' };
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const FAKE_TRAINER = path.join(ROOT, 'dist', 'test', 'fakes', 'fake-trainer.js');
const FAKE_HALOS = path.join(ROOT, 'dist', 'test', 'fakes', 'halos-sample.js');

beforeAll(async () => {
  Object.assign(process.env, awsEnv);
  s3 = await startS3Server(tmpDir('alignloop-s3x-store-'));
  await s3.createBucket('runs');
  store = new S3Store({ kind: 's3', bucket: 'runs', prefix: '', endpoint: s3.endpoint, forcePathStyle: true });
}, 180_000);

afterAll(async () => {
  store?.destroy();
  await s3?.kill();
});

function onStore(file: string): string {
  fs.writeFileSync(
    file,
    fs.readFileSync(file, 'utf8').replace(/^artifacts: .*$/m, `artifacts: { root: s3://runs, endpoint: ${s3.endpoint}, forcePathStyle: true }`),
  );
  return file;
}

/** Data artifacts (not the records, which name host paths) by key under the campaign, with their sha256. */
const DATA =
  /^iter-\d+\/(samples\/shard-\d+\.jsonl|scored\/shard-\d+\.jsonl|feedback\/feedback\.(jsonl|halos\.json|trl\.jsonl)|train\/checkpoint\/model\.safetensors)$/;

async function dataHashes(id: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const o of store.list(`${id}/`)) {
    const rel = o.key.slice(id.length + 1);
    if (DATA.test(rel)) out.set(rel, sha(await store.getBytes(o.key)));
  }
  return out;
}

/** Every completion record in the store names data that is there, whole, with its recorded sha256. */
async function noRecordWithoutItsData(id: string): Promise<number> {
  let n = 0;
  for await (const o of store.list(`${id}/`)) {
    if (!o.key.endsWith('.done.json')) continue;
    const rec = JSON.parse((await store.getBytes(o.key)).toString('utf8')) as { ref: { sha256: string } };
    const data = o.key.slice(0, -'.done.json'.length);
    expect(sha(await store.getBytes(data))).toBe(rec.ref.sha256);
    n++;
  }
  return n;
}

function roleWorkers(env: NodeJS.ProcessEnv) {
  const spawnRole = (role: string) => spawnWorker(env, role, ['--cache-dir', tmpDir(`alignloop-host-${role}-`)]);
  const workers = new Map(['control', 'sample', 'score', 'train'].map((r) => [r, spawnRole(r)]));
  return {
    workers,
    /** The host dies; another host (a fresh cache) takes the role. */
    replace: async (role: string) => {
      await killHard(workers.get(role)!);
      workers.set(role, spawnRole(role));
    },
    stop: () => Promise.all([...workers.values()].map(killHard)),
  };
}

describe('store-backed campaigns under faults', () => {
  test('a score worker killed right after it wrote, and the S3 server restarted mid-iteration: the campaign completes with the undisturbed artifacts', async () => {
    const ref = onStore(writeCampaign(tmpDir(), 'calm', { iterations: 2, perIteration: 16 }));
    const env = cliEnv(ctx.server.address, awsEnv);
    const calm = roleWorkers(env);
    try {
      expect(cli(['start', ref, '--id', 'calm'], env).status).toBe(0);
      expect((await completed(ctx.client, 'calm')).state).toBe('completed');
    } finally {
      await calm.stop();
    }
    const expected = await dataHashes('calm');

    const file = onStore(writeCampaign(tmpDir(), 'stormy', { iterations: 2, perIteration: 16, durability: 'retryMaxIntervalSeconds: 2' }));
    const w = roleWorkers(env);
    try {
      expect(cli(['start', file, '--id', 'stormy'], env).status).toBe(0);
      await waitFor('a scored shard in the store', async () => !!(await store.head('stormy/iter-000/scored/shard-000.jsonl').catch(() => null)), 300_000);
      await w.replace('score');
      await waitFor('iteration 1 to sample', async () => !!(await store.head('stormy/iter-001/samples/shard-000.jsonl').catch(() => null)), 300_000);
      await s3.restart();
      expect((await completed(ctx.client, 'stormy')).state).toBe('completed');
    } finally {
      await w.stop();
    }
    expect(await dataHashes('stormy')).toEqual(expected);
    expect(await noRecordWithoutItsData('stormy')).toBeGreaterThan(10);
    const v = cli(['verify', 'stormy'], env);
    expect(v.stdout).toMatch(/ok: every artifact matches its record/);
  });

  test('a train worker killed while it uploads a checkpoint (the initial policy an s3:// URL): no record of it is visible, another host trains again and the campaign completes with the same checkpoint', async () => {
    const bin = tmpDir('alignloop-bin-');
    fs.writeFileSync(path.join(bin, 'trl'), `#!/bin/sh\nexec "${process.execPath}" "${FAKE_TRAINER}" "$@"\n`, { mode: 0o755 });
    const policy = tmpDir('alignloop-policy-');
    fs.writeFileSync(path.join(policy, 'config.json'), JSON.stringify({ model_type: 'llama' }));
    fs.writeFileSync(path.join(policy, 'model.safetensors'), Buffer.alloc(256, 3));
    fs.writeFileSync(path.join(policy, 'tokenizer.json'), '{"model": {}}');
    fs.writeFileSync(path.join(policy, 'tokenizer_config.json'), JSON.stringify({ chat_template: "{% for m in messages %}{{ m['content'] }}\n{% endfor %}" }));
    // The initial policy is in the store too (policy.path: s3://...): the control host fetches it once, the others by hash.
    for (const f of fs.readdirSync(policy)) await store.putFile(`models/init-policy/${f}`, path.join(policy, f));
    const campaign = (name: string) =>
      onStore(
        writeCampaign(tmpDir(), name, {
          iterations: 2,
          perIteration: 8,
          sampler: `{ kind: command, command: ${JSON.stringify(['node', FAKE_HALOS, '{{policy.path}}', '--datasets', '{{prompts.json}}', '--output_file', '{{out}}', '--num_samples_per_prompt', '{{samplesPerPrompt}}'])}, samplesPerPrompt: 3 }`,
          trainer: '{ kind: command, preset: trl, method: dpo, beta: 0.1, reference: previous }',
          feedback: '{ type: pairwise, mode: max, threshold: 0, seed: 1 }',
          heartbeatTimeoutSeconds: 5,
          durability: 'retryMaxIntervalSeconds: 2',
          extra: 'policy: { path: s3://runs/models/init-policy }',
        }),
      );
    // 96 MiB of weights: six 16 MiB parts, so the upload is a multipart one that can be caught in flight.
    const env = cliEnv(ctx.server.address, { ...awsEnv, PATH: `${bin}:${process.env.PATH}`, FAKE_TRAINER_MODE: 'weights-mb=96' });

    const calm = roleWorkers(env);
    try {
      const started = cli(['start', campaign('calm-trl'), '--id', 'calm-trl'], env);
      expect(started.stderr).toBe('');
      expect(started.status).toBe(0);
      expect((await completed(ctx.client, 'calm-trl')).state).toBe('completed');
    } finally {
      await calm.stop();
    }
    const expected = await dataHashes('calm-trl');
    expect([...expected.keys()].filter((k) => k.endsWith('model.safetensors'))).toHaveLength(2);

    const w = roleWorkers(env);
    try {
      expect(cli(['start', campaign('cut-trl'), '--id', 'cut-trl'], env).status).toBe(0);
      await waitFor(
        'a checkpoint upload in flight',
        async () =>
          ((await store.client.send(new ListMultipartUploadsCommand({ Bucket: 'runs', Prefix: 'cut-trl/iter-000/train/' }))).Uploads ?? []).length > 0,
        300_000,
        10,
      );
      await w.replace('train');
      // Killed mid-upload: the checkpoint's record is not there, so no step can take it for done.
      expect(await store.head('cut-trl/iter-000/train/checkpoint.json.done.json')).toBeNull();
      expect((await completed(ctx.client, 'cut-trl')).state).toBe('completed');
    } finally {
      await w.stop();
    }
    expect(await dataHashes('cut-trl')).toEqual(expected);
    expect(await noRecordWithoutItsData('cut-trl')).toBeGreaterThan(5);
    const v = cli(['verify', 'cut-trl'], env);
    expect(v.stdout).toMatch(/ok: every artifact matches its record/);
  });
});
