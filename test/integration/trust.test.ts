/**
 * Workers do not trust what arrives from Temporal: campaigns started with a plain Temporal client,
 * as an attacker who can reach the namespace would, bypassing `alignloop validate`/`start`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadCampaign } from '../../activities/campaign/load';
import { QUEUES } from '../../config/queues';
import { campaignStatusQuery } from '../../workflows/messages';
import { cli, cliEnv, killHard, spawnWorker, useTestServer, waitFor, writeCampaign } from '../helpers/temporal';

jest.setTimeout(600_000);

const ctx = useTestServer('alignloop-trust-');

/** A command sampler whose program writes `marker` when it runs (it never gets to sample). */
function markerSampler(marker: string): string {
  const argv = ['node', '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran')`, '{{policy.path}}', '{{prompts.json}}', '{{out}}'];
  return `{ kind: command, command: ${JSON.stringify(argv)}, samplesPerPrompt: 2 }`;
}

/** A model folder for {{policy.path}} (the command never reads it). */
function policyFolder(name: string): string {
  const dir = path.join(ctx.dir, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), '{}');
  return dir;
}

async function pausedReason(id: string): Promise<string> {
  const h = ctx.client.workflow.getHandle(id);
  await waitFor('failed-paused', async () => (await h.query(campaignStatusQuery).catch(() => null))?.state === 'failed-paused', 180_000, 250);
  return (await h.query(campaignStatusQuery)).pauseReason ?? '';
}

describe('input from a plain Temporal client', () => {
  test('a campaign id "../x" is refused by the workflow, and by the activities when the iteration workflow is started directly', async () => {
    const env = cliEnv(ctx.server.address);
    const { config } = loadCampaign(writeCampaign(ctx.dir, 'esc', { iterations: 1, perIteration: 4 }));
    const worker = spawnWorker(env);
    try {
      const h = await ctx.client.workflow.start('campaignWorkflow', {
        workflowId: 'plain-1',
        taskQueue: QUEUES.control,
        args: [{ campaignId: '../escaped', config }],
      });
      await expect(h.result()).rejects.toThrow();
      const failure = await h.result().catch((e: Error & { cause?: Error }) => e.cause?.message ?? e.message);
      expect(failure).toMatch(/campaign id "\.\.\/escaped" must be 1 to 200 letters/);

      const policy = { path: path.join(ctx.dir, 'nothing.json'), sha256: '0'.repeat(64), count: 1, bytes: 1 };
      const it = await ctx.client.workflow.start('iterationWorkflow', {
        workflowId: 'plain-2',
        taskQueue: QUEUES.control,
        args: [{ campaignId: '../escaped2', iteration: 0, config, policy, reference: policy }],
      });
      const r = (await it.result()) as { failed?: { message: string } };
      expect(r.failed?.message).toMatch(/campaign id "\.\.\/escaped2" must be[\s\S]*was not started by `alignloop start`/);
    } finally {
      await killHard(worker);
    }
    expect(fs.existsSync(path.join(ctx.dir, 'escaped'))).toBe(false);
    expect(fs.existsSync(path.join(ctx.dir, 'escaped2'))).toBe(false);
  });

  test('a config that would not pass validate runs no command: the campaign pauses naming the problem', async () => {
    const env = cliEnv(ctx.server.address);
    const marker = path.join(ctx.dir, 'unvalidated-ran');
    const file = writeCampaign(ctx.dir, 'unval', {
      iterations: 1,
      perIteration: 4,
      sampler: markerSampler(marker),
      trainer: '{ kind: none }',
      extra: `policy: { path: ${policyFolder('policy-unval')} }`,
    });
    const { config } = loadCampaign(file);
    // What validate refuses: a key the schema does not know (here, smuggled next to the command).
    (config.sampler as unknown as Record<string, unknown>).shell = true;
    const worker = spawnWorker(env);
    try {
      await ctx.client.workflow.start('campaignWorkflow', { workflowId: 'plain-3', taskQueue: QUEUES.control, args: [{ campaignId: 'plain-3', config }] });
      const reason = await pausedReason('plain-3');
      expect(reason).toMatch(/config\.sampler[\s\S]*shell/);
      expect(reason).toMatch(/was not started by `alignloop start`/);
    } finally {
      await killHard(worker);
    }
    expect(fs.existsSync(marker)).toBe(false);
  });

  test('alignloop worker --allow-commands runs only the programs it lists', async () => {
    const env = cliEnv(ctx.server.address);
    const marker = path.join(ctx.dir, 'not-allowed-ran');
    const file = writeCampaign(ctx.dir, 'allow', {
      iterations: 1,
      perIteration: 4,
      sampler: markerSampler(marker),
      trainer: '{ kind: none }',
      extra: `policy: { path: ${policyFolder('policy-allow')} }`,
    });
    const worker = spawnWorker(env, undefined, ['--allow-commands', 'vllm,trl']);
    try {
      expect(cli(['start', file, '--id', 'allow-1'], env).status).toBe(0);
      expect(await pausedReason('allow-1')).toMatch(/sampler\.command: "node" is not an allowed program; this worker runs only vllm, trl/);
    } finally {
      await killHard(worker);
    }
    expect(fs.existsSync(marker)).toBe(false);
  });
});
