import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadCampaign } from '../../activities/campaign/load';
import { QUEUES } from '../../config/queues';
import { campaignStatusQuery } from '../../workflows/messages';
import { cli, cliEnv, filesUnder, killHard, spawnWorker, startTestServer, testClient, useTestServer, waitFor, writeCampaign } from '../helpers/temporal';

jest.setTimeout(600_000);

const ctx = useTestServer('alignloop-identity-');

const doneRecords = (dir: string) => filesUnder(dir, (rel) => rel.endsWith('.done.json'));

test('a campaign id reused after its Temporal history is gone: start/run refuse it, and workers never reuse the old outputs', async () => {
  const first = writeCampaign(ctx.dir, 'reuse-a', { iterations: 2, perIteration: 8 });
  // The second campaign differs (temperature, seed): the old outputs are not its outputs.
  const second = writeCampaign(ctx.dir, 'reuse-b', {
    iterations: 2,
    perIteration: 8,
    sampler: '{ kind: builtin, samplesPerPrompt: 4, temperature: 0.7, seed: 9 }',
  });
  const folder = path.join(ctx.dir, 'artifacts', 'reuse');
  const a = cli(['run', first, '--id', 'reuse'], cliEnv(ctx.server.address), ctx.dir);
  expect(a.status).toBe(0);

  // The owner is the workflow's first run id: the same across the continue-as-new between iterations.
  const desc = await ctx.client.workflow.getHandle('reuse').describe();
  const firstRunId = desc.raw.workflowExecutionInfo!.firstRunId!;
  expect(desc.runId).not.toBe(firstRunId); // the campaign continued as new at least once
  const owner = JSON.parse(fs.readFileSync(path.join(folder, 'campaign.identity.json'), 'utf8'));
  expect(owner).toMatchObject({ campaignId: 'reuse', firstRunId, name: 'reuse-a' });
  const before = doneRecords(folder);
  expect(before.size).toBeGreaterThan(5);

  // The same artifacts root seen from another Temporal server (a new ALIGNLOOP_HOME, history retention).
  const other = await startTestServer(path.join(ctx.dir, 'other.db'));
  const client = await testClient(other.address);
  const env = cliEnv(other.address);
  let worker: ReturnType<typeof spawnWorker> | null = null;
  try {
    for (const cmd of ['run', 'start']) {
      const r = cli([cmd, second, '--id', 'reuse'], env, ctx.dir);
      expect({ cmd, status: r.status }).toEqual({ cmd, status: 1 });
      expect(r.stderr).toContain(`campaign id "reuse": its folder ${folder} holds the artifacts of another campaign "reuse-a"`);
      expect(r.stderr).toContain(firstRunId);
      expect(r.stderr).toContain('--id reuse-2');
      expect(r.stderr).toContain(`mv ${folder} ${folder}.old`);
    }

    // Started without the CLI (another client): its activities refuse the folder, the campaign pauses on it.
    worker = spawnWorker(env);
    const handle = await client.workflow.start('campaignWorkflow', {
      workflowId: 'reuse',
      taskQueue: QUEUES.control,
      args: [{ campaignId: 'reuse', config: loadCampaign(second).config }],
    });
    const status = await waitFor('the campaign to pause', async () => {
      const s = await handle.query(campaignStatusQuery).catch(() => null);
      return s && (s.state === 'failed-paused' || s.state === 'completed') ? s : null;
    });
    expect(status.state).toBe('failed-paused');
    expect(status.pauseReason).toContain(`${folder} belongs to another campaign "reuse-a"`);
    expect(status.pauseReason).toContain(`not to this campaign (first run ${handle.firstExecutionRunId})`);
    await handle.terminate('test done');
  } finally {
    if (worker) await killHard(worker);
    await client.connection.close();
    await other.kill();
  }
  // Nothing of the first campaign was rewritten or taken over.
  expect(doneRecords(folder)).toEqual(before);
  expect(JSON.parse(fs.readFileSync(path.join(folder, 'campaign.identity.json'), 'utf8')).firstRunId).toBe(firstRunId);

  // Run again on the first campaign's own server: its folder, so Temporal's answer (it already ran) stands.
  const again = cli(['start', first, '--id', 'reuse'], cliEnv(ctx.server.address), ctx.dir);
  expect(again.status).toBe(1);
  expect(again.stderr).toContain('already ran to the end');
});

test('a folder with artifacts but no identity record (an older alignloop) is not taken over by a new campaign', () => {
  const file = writeCampaign(ctx.dir, 'legacy', { iterations: 1, perIteration: 8 });
  const folder = path.join(ctx.dir, 'artifacts', 'legacy');
  fs.mkdirSync(path.join(folder, 'iter-000'), { recursive: true });
  fs.writeFileSync(path.join(folder, 'iter-000', 'manifest.json'), '{}\n');
  const r = cli(['start', file, '--id', 'legacy'], cliEnv(ctx.server.address), ctx.dir);
  expect(r.status).toBe(1);
  expect(r.stderr).toContain(`campaign id "legacy": its folder ${folder} already holds artifacts of an earlier campaign`);
  expect(fs.existsSync(path.join(folder, 'campaign.identity.json'))).toBe(false);
});
