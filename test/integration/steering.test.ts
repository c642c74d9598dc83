/** Steering by Updates on a real server: refused requests leave no trace, config edits apply between iterations and are recorded. */
import type { Client } from '@temporalio/client';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { campaignStatusQuery } from '../../workflows/messages';
import { cli, cliEnv, killHard, spawnWorker, useTestServer, waitFor, writeCampaign } from '../helpers/temporal';

jest.setTimeout(600_000);

const ctx = useTestServer('alignloop-steer-');

/** How many Updates the campaign's history recorded (all its runs). */
async function acceptedUpdates(client: Client, id: string): Promise<number> {
  let n = 0;
  let runId: string | undefined;
  const seen = new Set<string>();
  // Follow continue-as-new from the first run to the current one.
  const first = await client.workflow.getHandle(id).describe();
  runId = first.raw.workflowExecutionInfo?.firstRunId ?? undefined;
  while (runId && !seen.has(runId)) {
    seen.add(runId);
    const h = await client.workflow.getHandle(id, runId).fetchHistory();
    let next: string | undefined;
    for (const e of h.events ?? []) {
      if (e.workflowExecutionUpdateAcceptedEventAttributes) n++;
      next = e.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? next;
    }
    runId = next;
  }
  return n;
}

test('refused requests are errors that leave no trace; resume --config applies safe edits from the next iteration and records them', async () => {
  const file = writeCampaign(ctx.dir, 'steer', { iterations: 3, perIteration: 8 });
  const env = cliEnv(ctx.server.address, { ALIGNLOOP_TEST_SLOW_MS: '40' });
  const worker = spawnWorker(env);
  try {
    expect(cli(['start', file, '--id', 'steer-1'], env).status).toBe(0);
    const h = ctx.client.workflow.getHandle('steer-1');
    const status = () => h.query(campaignStatusQuery).catch(() => null);
    await waitFor('iteration 0 in flight', async () => (await status())?.currentIteration === 0);

    const running = cli(['resume', 'steer-1'], env);
    expect(running.status).toBe(1);
    expect(running.stderr).toMatch(/refused: campaign steer-1 is (running|pausing), not paused: nothing to resume/);
    expect(await acceptedUpdates(ctx.client, 'steer-1')).toBe(0);

    expect(cli(['pause', 'steer-1'], env).status).toBe(0);
    const paused = await waitFor('paused', async () => {
      const s = await status();
      return s?.state === 'paused' ? s : null;
    });
    expect(await acceptedUpdates(ctx.client, 'steer-1')).toBe(1);

    // An edit that touches a setting that may not change is refused whole, naming it; nothing changes.
    const original = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, original.replace('iterations: 3', 'iterations: 4').replace('seed: 3 }', 'seed: 4 }'));
    const refused = cli(['resume', 'steer-1', '--config', file], env);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/refused: these settings cannot change mid-campaign: prompts.seed: 3 -> 4 \(/);
    expect(await acceptedUpdates(ctx.client, 'steer-1')).toBe(1);
    expect((await status())?.state).toBe('paused');

    // Safe edits: printed, applied from the next iteration on, recorded in its manifest and in history.
    fs.writeFileSync(file, original.replace('iterations: 3', 'iterations: 4').replace('threshold: 0.01', 'threshold: 0.02'));
    const edited = cli(['resume', 'steer-1', '--config', file], env);
    expect(edited.stderr).toBe('');
    expect(edited.status).toBe(0);
    expect(edited.stdout).toContain(`config of steer-1: 2 changes, from iteration ${paused.completed} on:`);
    expect(edited.stdout).toContain('feedback.threshold: 0.01 -> 0.02');
    expect(edited.stdout).toContain('iterations: 3 -> 4');
    expect(edited.stdout).toMatch(/resumed steer-1/);
    const result = await h.result();
    expect(result.state).toBe('completed');
    expect(result.summaries.map((s: { iteration: number }) => s.iteration)).toEqual([0, 1, 2, 3]);
    const manifest = (i: number) =>
      JSON.parse(fs.readFileSync(path.join(ctx.dir, 'artifacts', 'steer-1', `iter-${String(i).padStart(3, '0')}`, 'manifest.json'), 'utf8'));
    for (let i = 0; i < 4; i++) {
      const m = manifest(i);
      if (i === paused.completed) {
        expect(m.config_changes).toEqual([
          { path: 'feedback.threshold', from: 0.01, to: 0.02 },
          { path: 'iterations', from: 3, to: 4 },
        ]);
      } else expect(m.config_changes).toBeUndefined();
      expect(m.settings.feedback.threshold).toBe(i < paused.completed ? 0.01 : 0.02);
    }
    const hist = cli(['history', 'steer-1'], env);
    expect(hist.stdout).toContain(`iteration ${paused.completed}: config changed (resume --config): feedback.threshold: 0.01 -> 0.02; iterations: 3 -> 4`);
    // A campaign that ended refuses steering too.
    const late = cli(['pause', 'steer-1'], env);
    expect(late.status).toBe(1);
    expect(late.stderr).toMatch(/is not running \(completed\)/);
  } finally {
    await killHard(worker);
  }
});

test('with no worker, a request says it waits for one instead of hanging', async () => {
  const file = writeCampaign(ctx.dir, 'idle', { iterations: 1, perIteration: 4 });
  const env = cliEnv(ctx.server.address);
  expect(cli(['start', file, '--id', 'idle-1'], env).status).toBe(0);
  const r = cli(['pause', 'idle-1', '--wait', '2'], env);
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/pause of idle-1 waits for a worker: none has taken it in 2 s/);
  // The server held the request: the first worker that runs applies it.
  const h = ctx.client.workflow.getHandle('idle-1');
  const worker = spawnWorker(env);
  try {
    await waitFor('the held pause applied', async () => (await h.query(campaignStatusQuery).catch(() => null))?.state.startsWith('paus'), 120000);
  } finally {
    await killHard(worker);
  }
  await h.terminate('test over');
});
