/**
 * eval.queue: eval, on its own dev server: Temporal remembers a queue's pollers for a while after they
 * stop, so "no worker polls alignloop-eval" is only true on a server where no all-roles worker ran.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from '../helpers/paths';
import { cli, cliEnv, killHard, spawnWorker, useTestServer, waitFor, writeCampaign } from '../helpers/temporal';

jest.setTimeout(600_000);

const ctx = useTestServer('alignloop-eval-queue-');
const EVAL_PROMPTS = path.join(ROOT, 'examples', 'quickstart', 'eval-prompts.jsonl');
const evalBlock = (extra = '') => `eval: { prompts: ${EVAL_PROMPTS}, samplesPerPrompt: 2, seed: 7${extra} }`;
const iterDir = (id: string, it: number) => path.join(ctx.dir, 'artifacts', id, `iter-${String(it).padStart(3, '0')}`);
const manifest = (id: string, it: number) => JSON.parse(fs.readFileSync(path.join(iterDir(id, it), 'manifest.json'), 'utf8'));

describe('eval.queue: eval', () => {
  test('the eval answers are sampled and scored on alignloop-eval only: without an eval worker the campaign waits in the eval stage; one started finishes it', async () => {
    const id = 'ev-queue-1';
    const file = writeCampaign(ctx.dir, 'ev-queue', { iterations: 1, extra: evalBlock(', queue: eval') });
    const env = cliEnv(ctx.server.address);
    const training = spawnWorker(env, 'control,sample,score,judge,train');
    let evalWorker: ReturnType<typeof spawnWorker> | null = null;
    try {
      expect(cli(['start', file, '--id', id], env).status).toBe(0);
      const child = ctx.client.workflow.getHandle(`${id}/iter-0`);
      const scheduledOn = async () =>
        ((await child.fetchHistory().catch(() => null))?.events ?? [])
          .map((e) => e.activityTaskScheduledEventAttributes)
          .filter((a) => a && ['sampleShard', 'scoreShard'].includes(a.activityType?.name ?? ''))
          .map((a) => ({ activity: a!.activityType!.name!, queue: a!.taskQueue!.name! }));
      // The eval stage's sample activities (12 shards of answers, 12 of the baseline's) wait on alignloop-eval, where nobody polls yet.
      await waitFor(
        'eval sampling scheduled on alignloop-eval',
        async () => (await scheduledOn()).filter((a) => a.queue === 'alignloop-eval' && a.activity === 'sampleShard').length === 24 || null,
        120000,
        200,
      );
      expect(fs.existsSync(path.join(iterDir(id, 0), 'eval', 'samples'))).toBe(false);
      const waiting = JSON.parse(cli(['status', id, '--json'], env).stdout);
      expect(waiting.noWorker).toEqual(['alignloop-eval']);
      expect(waiting.next).toContain('alignloop worker --roles eval');
      evalWorker = spawnWorker(env, 'eval');
      expect(await ctx.client.workflow.getHandle(id).result()).toMatchObject({ state: 'completed' });
      const all = await scheduledOn();
      // training's 4 shards sampled and scored on their own queues; every eval activity (answers and the baseline's) on alignloop-eval
      expect(all.filter((a) => a.queue === 'alignloop-sample').length).toBe(4);
      expect(all.filter((a) => a.queue === 'alignloop-score').length).toBe(4);
      expect(all.filter((a) => a.queue === 'alignloop-eval').length).toBe(48); // 12 shards x (answers, baseline) x (sample, score)
      expect(manifest(id, 0).eval).toMatchObject({ answers: 96, labelled: 96, baselineIteration: 0 });
    } finally {
      await killHard(training);
      if (evalWorker) await killHard(evalWorker);
    }
  });
});
