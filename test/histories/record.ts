/**
 * Records the histories of this release's workflows into test/fixtures/histories/ (run with
 * `npm run histories:record` after a release; commit the files next to the earlier ones). The replay
 * test (test/unit/replay.test.ts) replays every recorded file against the current workflow code, so
 * a change that would break campaigns already running fails CI. Each scenario is a real campaign on
 * a real dev server: a plain one, an LLM-judge one, a paused-and-resumed one, one that failed,
 * was paused on the failure, and was resumed, and one steered by Updates (pause, budget, config edit).
 */
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { campaignStatusQuery } from '../../workflows/messages';
import { FakeJudgeServer } from '../fakes/openai-judge-server';
import { MODELS, ROOT, tmpDir } from '../helpers/paths';
import { cli, cliEnv, killHard, spawnWorker, startTestServer, testClient, waitFor, writeCampaign } from '../helpers/temporal';

const OUT = path.join(ROOT, 'test', 'fixtures', 'histories');
const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

async function main(): Promise<void> {
  const dir = tmpDir('alignloop-record-');
  const server = await startTestServer(path.join(dir, 'temporal.db'));
  const client = await testClient(server.address);
  const judge = await new FakeJudgeServer({ apiKey: 'sk-record-key', structuredOutput: true }).start();
  const env = cliEnv(server.address, { JUDGE_API_KEY: 'sk-record-key' });
  const slow = { ...env, ALIGNLOOP_TEST_SLOW_MS: '150' };
  let worker = spawnWorker(env);
  const status = (id: string) =>
    client.workflow
      .getHandle(id)
      .query(campaignStatusQuery)
      .catch(() => null);
  const start = (file: string, id: string) => {
    const r = cli(['start', file, '--id', id], env);
    if (r.status !== 0) throw new Error(`start ${id}: ${r.stderr}`);
  };
  const done = (id: string) => client.workflow.getHandle(id).result();
  try {
    // 1. A plain campaign: two iterations, continue-as-new between them.
    start(writeCampaign(dir, 'plain', { iterations: 2, perIteration: 8 }), 'plain');
    await done('plain');

    // 2. A pointwise LLM-judge campaign.
    const labeler = `{ kind: judge, baseURL: ${judge.baseURL}, model: judge-small, apiKeyEnv: JUDGE_API_KEY, timeoutSeconds: 5 }`;
    start(writeCampaign(dir, 'judged', { iterations: 1, perIteration: 4, labeler }), 'judged');
    await done('judged');

    // 3. Paused during iteration 0, resumed after it.
    await killHard(worker);
    worker = spawnWorker(slow);
    start(writeCampaign(dir, 'paused', { iterations: 2, perIteration: 8 }), 'paused');
    await waitFor('iteration 0 in flight', async () => (await status('paused'))?.currentIteration === 0);
    cli(['pause', 'paused'], env);
    await waitFor('paused', async () => (await status('paused'))?.state === 'paused');
    cli(['resume', 'paused'], env);
    await done('paused');

    // 4. The reward model disappears before iteration 1: failed-paused; restored; resumed.
    const model = path.join(dir, 'rm');
    fs.cpSync(MODELS.bt, model, { recursive: true });
    start(writeCampaign(dir, 'failed', { iterations: 2, perIteration: 8, labeler: `{ kind: reward-model, model: ${model}, threads: 1 }` }), 'failed');
    await waitFor('iteration 0 in flight', async () => (await status('failed'))?.currentIteration === 0);
    cli(['pause', 'failed'], env);
    await waitFor('paused', async () => (await status('failed'))?.completed === 1 && (await status('failed'))?.state === 'paused');
    await killHard(worker);
    fs.renameSync(model, `${model}.away`);
    worker = spawnWorker(env);
    cli(['resume', 'failed'], env);
    await waitFor('failed-paused', async () => (await status('failed'))?.state === 'failed-paused');
    fs.renameSync(`${model}.away`, model);
    cli(['resume', 'failed', '--wait', '60'], env);
    await done('failed');

    // 5. Steered by Updates: paused in flight, a refused resume (no event), a config edit applied
    //    from iteration 1 (resume --config), a budget set, resumed.
    await killHard(worker);
    worker = spawnWorker(slow);
    const steered = writeCampaign(dir, 'steered', { iterations: 2, perIteration: 8, extra: 'budget: { usd: 5 }' });
    start(steered, 'steered');
    await waitFor('iteration 0 in flight', async () => (await status('steered'))?.currentIteration === 0);
    cli(['resume', 'steered'], env); // refused: not paused
    cli(['pause', 'steered'], env);
    await waitFor('paused', async () => (await status('steered'))?.state === 'paused');
    cli(['budget', 'steered', '10'], env);
    fs.writeFileSync(steered, fs.readFileSync(steered, 'utf8').replace('iterations: 2', 'iterations: 3').replace('threshold: 0.01', 'threshold: 0.02'));
    const edit = cli(['resume', 'steered', '--config', steered], env);
    if (edit.status !== 0) throw new Error(`resume --config steered: ${edit.stderr}`);
    await done('steered');

    fs.mkdirSync(OUT, { recursive: true });
    for (const id of ['plain', 'judged', 'paused', 'failed', 'steered']) {
      const runs: { workflowId: string; runId: string; history: unknown }[] = [];
      for await (const w of client.workflow.list({ query: `WorkflowId = '${id}' OR WorkflowId STARTS_WITH '${id}/iter-'` })) {
        const h = await client.workflow.getHandle(w.workflowId, w.runId).fetchHistory();
        runs.push({ workflowId: w.workflowId, runId: w.runId, history: JSON.parse(historyToJSON(h)) });
      }
      const file = path.join(OUT, `v${VERSION}-${id}.json`);
      fs.writeFileSync(file, JSON.stringify({ alignloop: VERSION, scenario: id, runs }) + '\n');
      console.log(`${file}: ${runs.length} workflow runs`);
    }
  } finally {
    await killHard(worker);
    await judge.stop();
    await client.connection.close();
    await server.kill();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
