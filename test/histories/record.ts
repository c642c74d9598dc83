/**
 * Records the histories of this release's workflows into test/fixtures/histories/ (run with
 * `npm run histories:record` after a release; commit the files next to the earlier ones). The replay
 * test (test/unit/replay.test.ts) replays every recorded file against the current workflow code, so
 * a change that would break campaigns already running fails CI. Each scenario is a real campaign on
 * a real dev server: a plain one, an LLM-judge one, a paused-and-resumed one, one that failed,
 * was paused on the failure, and was resumed, one steered by Updates (pause, budget, config edit), a
 * Batch API judge, a budget pause resumed with a new budget, a stop, more shards than the in-flight
 * window, a managed sampler, iterations that overlap (schedule.maxPolicyLag: 1) paused with two in flight, and an
 * evaluated one (eval:). RECORD_ONLY=overlapped,evaluated RECORD_VERSION=0.5.0 records scenarios alone, for the coming
 * release (a change that adds a scenario between releases).
 */
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { campaignStatusQuery } from '../../workflows/messages';
import { FakeJudgeServer } from '../fakes/openai-judge-server';
import { MODELS, QUICKSTART_PROMPTS, ROOT, tmpDir } from '../helpers/paths';
import { cli, cliEnv, killHard, spawnWorker, startTestServer, testClient, waitFor, writeCampaign } from '../helpers/temporal';

const OUT = path.join(ROOT, 'test', 'fixtures', 'histories');
/** RECORD_VERSION names the release a scenario added between releases is recorded for (the next one). */
const VERSION = process.env.RECORD_VERSION ?? (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

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
  const only = process.env.RECORD_ONLY;
  try {
    if (only === undefined) await earlierScenarios();
    // 11. Iterations that overlap: iteration i+1 samples while iteration i trains; paused with both in flight, resumed.
    await killHard(worker);
    worker = spawnWorker(slow);
    start(writeCampaign(dir, 'overlapped', { iterations: 3, perIteration: 8, epochs: 60, extra: 'schedule: { maxPolicyLag: 1 }' }), 'overlapped');
    await waitFor('two iterations in flight', async () => ((await status('overlapped'))?.inFlight?.filter((f) => f.state === 'running').length ?? 0) === 2);
    cli(['pause', 'overlapped'], env);
    await waitFor('paused', async () => (await status('overlapped'))?.state === 'paused');
    cli(['resume', 'overlapped'], env);
    await done('overlapped');

    // 12. Evaluation (eval:): held-out answers sampled and scored after training, the baseline made
    //     once, the best checkpoint and the stop rules' state carried across continue-as-new.
    const evalPrompts = path.join(ROOT, 'examples', 'quickstart', 'eval-prompts.jsonl');
    const evalBlock = `eval: { prompts: ${evalPrompts}, samplesPerPrompt: 2, hackingGuard: true, stopWhen: { noImprovement: 3 } }`;
    start(writeCampaign(dir, 'evaluated', { iterations: 2, perIteration: 8, extra: evalBlock }), 'evaluated');
    await done('evaluated');

    fs.mkdirSync(OUT, { recursive: true });
    const ids = only === undefined ? [...EARLIER, 'overlapped', 'evaluated'] : only.split(',');
    for (const id of ids) {
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

  async function earlierScenarios(): Promise<void> {
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

    // 6. The Batch API judge: submit, durable poll timer, collect.
    await killHard(worker);
    worker = spawnWorker(env);
    const batchLabeler = `{ kind: judge, baseURL: ${judge.baseURL}, model: judge-small, apiKeyEnv: JUDGE_API_KEY, timeoutSeconds: 5, batch: { enabled: true, pollSeconds: 1 } }`;
    start(writeCampaign(dir, 'batched', { iterations: 1, perIteration: 4, labeler: batchLabeler }), 'batched');
    await done('batched');

    // 7. A budget pause inside an iteration, then resume --budget.
    const priced = `{ kind: judge, baseURL: ${judge.baseURL}, model: judge-small, apiKeyEnv: JUDGE_API_KEY, timeoutSeconds: 5, prices: { inputPerMTok: 100, outputPerMTok: 400 }, limits: { requestsPerMinute: 6000, tokensPerMinute: 10000000, maxInFlight: 4 } }`;
    start(writeCampaign(dir, 'budget', { iterations: 2, perIteration: 8, labeler: priced, extra: 'budget: { usd: 0.3 }' }), 'budget');
    await waitFor('budget pause', async () => (await status('budget'))?.state === 'paused', 120000);
    cli(['resume', 'budget', '--budget', '1000'], env);
    await done('budget');

    // 8. stop while an iteration runs.
    await killHard(worker);
    worker = spawnWorker(slow);
    start(writeCampaign(dir, 'stopped', { iterations: 4, perIteration: 8 }), 'stopped');
    await waitFor('iteration 0 in flight', async () => (await status('stopped'))?.currentIteration === 0);
    cli(['stop', 'stopped'], env);
    await done('stopped');

    // 9. More shards than the in-flight window (12 shards, 3 at a time).
    await killHard(worker);
    worker = spawnWorker(env);
    start(writeCampaign(dir, 'windowed', { iterations: 1, perIteration: 48, promptsPerShard: 4, maxInFlightShards: 3 }), 'windowed');
    await done('windowed');

    // 10. A managed sampler: a server per iteration, stopped by the process that runs it.
    const policyDir = path.join(dir, 'policy');
    fs.mkdirSync(policyDir, { recursive: true });
    fs.writeFileSync(path.join(policyDir, 'config.json'), JSON.stringify({ model_type: 'llama', hidden_size: 8 }));
    fs.writeFileSync(path.join(policyDir, 'model.safetensors'), Buffer.alloc(64, 7));
    const server = path.join(ROOT, 'dist', 'test', 'fakes', 'policy-server-main.js');
    const argv = ['node', server, '{{policy.path}}', '--port', '{{port}}', '--served-model-name', 'policy', '--candidates', QUICKSTART_PROMPTS];
    const sampler = `{ kind: managed, command: ${JSON.stringify(argv)}, samplesPerPrompt: 4, maxTokens: 256, seed: 11, timeoutSeconds: 5, stopTimeoutSeconds: 3, readyTimeoutSeconds: 60 }`;
    start(
      writeCampaign(dir, 'managed', { iterations: 2, perIteration: 8, sampler, trainer: '{ kind: none }', extra: `policy: { path: ${policyDir} }` }),
      'managed',
    );
    await done('managed');
  }
}

const EARLIER = ['plain', 'judged', 'paused', 'failed', 'steered', 'batched', 'budget', 'stopped', 'windowed', 'managed'];

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
