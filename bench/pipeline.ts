/**
 * npm run bench:pipeline — what overlapping iterations (schedule.maxPolicyLag) buy, lag 0 and lag 1
 * in the same run, on the embedded dev server with one all-roles worker process:
 *
 * 1. Balanced stages: a campaign of 8 iterations whose sampler is a local OpenAI-compatible server
 *    with a fixed latency (test/fakes/openai-policy-server.ts) and whose trainer is a command that
 *    takes a fixed time (test/fakes/fake-trainer.ts). Prints each run's wall time, the speed-up, and
 *    the bound sum(stage times) / critical path, where the critical path overlaps the gather half of
 *    iteration i+1 (prompts, sample, score) with the learn half of iteration i (feedback, train,
 *    manifest); the goal is a speed-up >= 0.9 of that bound.
 * 2. The built-in quickstart at lag 0 and lag 1: the reward mean per iteration over 6 iterations
 *    (what sampling from one checkpoint older costs in learning per iteration).
 *
 *   BENCH_ITERATIONS=8       iterations of the balanced campaign
 *   BENCH_LATENCY_MS=2000    the policy server's latency per request
 *   BENCH_TRAIN_STEPS=20     the fake trainer's steps (BENCH_STEP_MS each, default 90)
 *   BENCH_QUICKSTART=0       skips part 2
 */
import { spawn } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDetached, freePort } from '../workers/dev-server';
import { FakePolicyServer } from '../test/fakes/openai-policy-server';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
const FAKE_TRAINER = path.join(ROOT, 'dist', 'test', 'fakes', 'fake-trainer.js');
const QUICKSTART = path.join(ROOT, 'examples', 'quickstart');
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 8);
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 2000);
const TRAIN_STEPS = Number(process.env.BENCH_TRAIN_STEPS ?? 20);
const STEP_MS = Number(process.env.BENCH_STEP_MS ?? 90);

const GATHER = ['prompts', 'sample', 'score'];
const LEARN = ['feedback', 'train', 'manifest'];

interface Manifest {
  timings_seconds: Record<string, number>;
  reward: { mean: number } | null;
  policy_lag?: { min: number; max: number };
}

function modelFolder(dir: string): string {
  const d = path.join(dir, 'policy');
  fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify({ model_type: 'llama' }));
  fs.writeFileSync(path.join(d, 'model.safetensors'), Buffer.alloc(256, 3));
  fs.writeFileSync(path.join(d, 'tokenizer.json'), '{"model": {}}');
  fs.writeFileSync(path.join(d, 'tokenizer_config.json'), JSON.stringify({ chat_template: "{% for m in messages %}{{ m['content'] }}\n{% endfor %}" }));
  return d;
}

function balancedCampaign(dir: string, name: string, lag: number, baseURL: string, policy: string): string {
  const trainer = ['node', FAKE_TRAINER, '--model_name_or_path', '{{policy.path}}', '--dataset', '{{feedback.trl}}', '--output_dir', '{{output_dir}}'];
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(
    file,
    [
      `name: ${name}`,
      `iterations: ${ITERATIONS}`,
      `prompts: { path: ${path.join(QUICKSTART, 'prompts.jsonl')}, perIteration: 16, seed: 0, reuse: true }`,
      `policy: { path: ${policy} }`,
      `sampler: { kind: openai, baseURL: ${baseURL}, model: policy, samplesPerPrompt: 4, maxTokens: 256, seed: 1, timeoutSeconds: 60 }`,
      `labeler: { kind: reward-model, model: ${path.join(QUICKSTART, 'reward-model')}, threads: 1 }`,
      'feedback: { type: pairwise, mode: max, threshold: 0, seed: 0 }',
      `trainer: { kind: command, preset: custom, method: dpo, reference: previous, command: ${JSON.stringify(trainer)} }`,
      'sharding: { promptsPerShard: 16 }',
      `artifacts: { root: ${path.join(dir, 'artifacts')} }`,
      `schedule: { maxPolicyLag: ${lag} }`,
    ].join('\n') + '\n',
  );
  return file;
}

function quickstartCampaign(dir: string, name: string, lag: number): string {
  const text = fs
    .readFileSync(path.join(QUICKSTART, 'campaign.yaml'), 'utf8')
    .replace(/^name: .*$/m, `name: ${name}`)
    .replace(/^iterations: .*$/m, 'iterations: 6')
    .replace('path: prompts.jsonl, perIteration: 64, seed: 0', `path: ${path.join(QUICKSTART, 'prompts.jsonl')}, perIteration: 64, seed: 0, reuse: true`)
    .replace('model: reward-model,', `model: ${path.join(QUICKSTART, 'reward-model')},`)
    .replace(/^artifacts: .*$/m, `artifacts: { root: ${path.join(dir, 'artifacts')} }`);
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(file, `${text}schedule: { maxPolicyLag: ${lag} }\n`);
  return file;
}

async function run(client: Client, env: NodeJS.ProcessEnv, file: string, id: string): Promise<number> {
  const worker = spawn(process.execPath, [CLI, 'worker'], { env, stdio: ['ignore', 'ignore', 'ignore'] });
  try {
    const t0 = performance.now();
    const start = spawn(process.execPath, [CLI, 'start', file, '--id', id], { env, stdio: 'ignore' });
    const code = await new Promise((r) => start.once('exit', r));
    if (code !== 0) throw new Error(`alignloop start ${id} exited ${code}`);
    const r = await client.workflow.getHandle(id).result();
    if (r.state !== 'completed') throw new Error(`${id} ended ${r.state}`);
    // From the first run's start to the last run's close, as the server recorded them: the worker's and CLI's start-up are not the campaign's.
    let first = Infinity;
    let last = 0;
    for await (const w of client.workflow.list({ query: `WorkflowId = '${id}'` })) {
      first = Math.min(first, w.startTime.getTime());
      last = Math.max(last, w.closeTime?.getTime() ?? 0);
    }
    return last > first ? (last - first) / 1000 : (performance.now() - t0) / 1000;
  } finally {
    worker.kill('SIGTERM');
    await new Promise((r) => (worker.exitCode !== null ? r(null) : worker.once('exit', r)));
  }
}

function manifests(dir: string, id: string, n: number): Manifest[] {
  return Array.from({ length: n }, (_, i) =>
    JSON.parse(fs.readFileSync(path.join(dir, 'artifacts', id, `iter-${String(i).padStart(3, '0')}`, 'manifest.json'), 'utf8')),
  );
}

const half = (m: Manifest, stages: string[]) => stages.reduce((a, k) => a + (m.timings_seconds[k] ?? 0), 0);

/**
 * sum(stage times) and the critical path when gather(i+1) overlaps learn(i):
 * G0 + sum over i < n-1 of max(L_i, G_{i+1}) + L_{n-1}.
 */
export function pipelineBound(ms: Manifest[]): { sum: number; critical: number } {
  const g = ms.map((m) => half(m, GATHER));
  const l = ms.map((m) => half(m, LEARN));
  const sum = g.reduce((a, b) => a + b, 0) + l.reduce((a, b) => a + b, 0);
  let critical = g[0] + l[l.length - 1];
  for (let i = 0; i + 1 < ms.length; i++) critical += Math.max(l[i], g[i + 1]);
  return { sum, critical };
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alignloop-bench-pipeline-'));
  const server = await startDetached({
    dbFile: path.join(dir, 'temporal.db'),
    port: await freePort(),
    uiPort: await freePort(),
    logFile: path.join(dir, 'temporal.log'),
  });
  const env = {
    ...process.env,
    TEMPORAL_ADDRESS: server.address,
    ALIGNLOOP_LOG_LEVEL: 'ERROR',
    FAKE_TRAINER_MODE: `steps=${TRAIN_STEPS},step-ms=${STEP_MS}`,
  };
  const client = new Client({ connection: await Connection.connect({ address: server.address }) });
  const policyServer = await new FakePolicyServer({ latencyMs: LATENCY_MS }).start();
  try {
    const policy = modelFolder(dir);
    console.log(
      `balanced stages: ${ITERATIONS} iterations, OpenAI-compatible policy server at ${LATENCY_MS} ms per request, ` +
        `command trainer of ${TRAIN_STEPS} x ${STEP_MS} ms, one all-roles worker (${os.cpus().length} cores)`,
    );
    const walls: number[] = [];
    for (const lag of [0, 1]) {
      const id = `balanced-lag${lag}`;
      const wall = await run(client, env, balancedCampaign(dir, id, lag, policyServer.baseURL, policy), id);
      walls.push(wall);
      const ms = manifests(dir, id, ITERATIONS);
      const g = ms.map((m) => half(m, GATHER));
      const l = ms.map((m) => half(m, LEARN));
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const lags = ms.map((m) => (m.policy_lag ? m.policy_lag.max : 0)).join(' ');
      console.log(
        `  lag ${lag}: ${wall.toFixed(1)} s wall; per iteration gather ${mean(g).toFixed(2)} s, learn ${mean(l).toFixed(2)} s; lag per iteration ${lags}`,
      );
      if (lag === 1) {
        const { sum, critical } = pipelineBound(ms);
        const bound = sum / critical;
        const speedup = walls[0] / wall;
        console.log(
          `  speed-up ${speedup.toFixed(2)}x (lag 0 wall / lag 1 wall); bound sum(stage times) / critical path = ${sum.toFixed(1)} / ${critical.toFixed(1)} s = ${bound.toFixed(2)}x; ` +
            `${(speedup / bound).toFixed(2)} of the bound (goal >= 0.9)`,
        );
      }
    }
    if (process.env.BENCH_QUICKSTART !== '0') {
      console.log("\nbuilt-in quickstart, 6 iterations: reward mean of each iteration's samples (before it trains)");
      for (const lag of [0, 1]) {
        const id = `quickstart-lag${lag}`;
        const wall = await run(client, env, quickstartCampaign(dir, id, lag), id);
        const rewards = manifests(dir, id, 6).map((m) => (m.reward ? m.reward.mean.toFixed(3) : '-'));
        console.log(`  lag ${lag}: ${rewards.join('  ')}  (${wall.toFixed(1)} s)`);
      }
    }
  } finally {
    await policyServer.stop();
    await client.connection.close();
    try {
      process.kill(-server.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
