/**
 * npm run bench:campaign — one-iteration campaigns of P prompts x 8 samples (built-in policy,
 * quickstart reward model, built-in DPO trainer) on the embedded dev server with one all-roles worker
 * process, and a many-iteration campaign of tiny iterations. Prints per size: wall time per stage,
 * orchestration overhead (share of the iteration's wall time with no activity running, from the
 * iteration workflow's history), the worker's peak RSS, history events; for the tiny campaign the
 * overhead per iteration and the carried state's size.
 *
 *   BENCH_PROMPTS=2000,20000   sizes (default 2000; 0 runs none)
 *   BENCH_SHARD=256            prompts per shard
 *   BENCH_ITERATIONS=100       iterations of the tiny campaign (0 skips it)
 *   BENCH_SPLIT=1              one worker process per role (control, sample, score, train): peak RSS per role
 */
import { spawn } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDetached, freePort } from '../workers/dev-server';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
const SIZES = (process.env.BENCH_PROMPTS ?? '2000')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const SHARD = Number(process.env.BENCH_SHARD ?? 256);
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 100);

function promptsFile(dir: string, n: number): string {
  const pools = fs
    .readFileSync(path.join(ROOT, 'examples', 'quickstart', 'prompts.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { prompt: unknown; candidates: string[] });
  const file = path.join(dir, `prompts-${n}.jsonl`);
  const out = fs.openSync(file, 'w');
  for (let i = 0; i < n; i++) {
    const p = pools[i % pools.length];
    const text = typeof p.prompt === 'string' ? p.prompt : JSON.stringify(p.prompt);
    fs.writeSync(out, JSON.stringify({ prompt: `#${i} ${text}`, candidates: p.candidates }) + '\n');
  }
  fs.closeSync(out);
  return file;
}

function campaignFile(dir: string, name: string, prompts: string, perIteration: number, iterations: number, shard: number, epochs: number): string {
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(
    file,
    [
      `name: ${name}`,
      `iterations: ${iterations}`,
      `prompts: { path: ${prompts}, perIteration: ${perIteration}, seed: 0, reuse: true }`,
      'sampler: { kind: builtin, samplesPerPrompt: 8, temperature: 1.0, seed: 0 }',
      `labeler: { kind: reward-model, model: ${path.join(ROOT, 'examples', 'quickstart', 'reward-model')}, threads: 1 }`,
      'feedback: { type: pairwise, mode: max, threshold: 0.01, seed: 0 }',
      `trainer: { kind: builtin, method: dpo, epochs: ${epochs} }`,
      `sharding: { promptsPerShard: ${shard} }`,
      `artifacts: { root: ${path.join(dir, 'artifacts')} }`,
    ].join('\n') + '\n',
  );
  return file;
}

const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => (t ? Number(t.seconds ?? 0) * 1000 + (t.nanos ?? 0) / 1e6 : 0);

/** Events a workflow task's own commands write after its completion (the rest come from outside: activities, timers, signals). */
const COMMAND_EVENTS = [
  'activityTaskScheduledEventAttributes',
  'markerRecordedEventAttributes',
  'upsertWorkflowSearchAttributesEventAttributes',
  'workflowPropertiesModifiedEventAttributes',
  'timerStartedEventAttributes',
  'startChildWorkflowExecutionInitiatedEventAttributes',
] as const;

/** Wall time of a workflow run and the union of its activities' running intervals. */
async function activityCoverage(client: Client, workflowId: string): Promise<{ wallMs: number; busyMs: number; events: number; retried: number }> {
  const h = await client.workflow.getHandle(workflowId).fetchHistory();
  const events = h.events ?? [];
  const started = new Map<string, number>();
  const intervals: [number, number][] = [];
  let retried = 0;
  let taskStarted = 0;
  // A local activity longer than 80% of the workflow task timeout makes the SDK complete the task
  // (with the commands it has) and take a new one at once, a task heartbeat: such a new task follows
  // the completion's own events with nothing from outside between, and the activity runs from the
  // first task of the chain.
  let outsideSinceCompleted = true;
  let heartbeat = false;
  for (const e of events) {
    const t = ms(e.eventTime as never);
    if (e.workflowTaskCompletedEventAttributes) outsideSinceCompleted = false;
    else if (e.workflowTaskScheduledEventAttributes) heartbeat = !outsideSinceCompleted;
    else if (e.workflowTaskStartedEventAttributes) {
      if (!heartbeat) taskStarted = t;
    } else if (!COMMAND_EVENTS.some((k) => e[k])) outsideSinceCompleted = true;
    // A local activity runs inside the workflow task that records its marker: from that task's start to its completion time.
    const m = e.markerRecordedEventAttributes;
    if (m?.markerName === 'core_local_activity') {
      const data = JSON.parse(Buffer.from(m.details!.data!.payloads![0].data!).toString('utf8')) as { complete_time?: { seconds?: number; nanos?: number } };
      intervals.push([taskStarted, data.complete_time ? ms(data.complete_time) : t]);
    }
    if (e.activityTaskStartedEventAttributes) {
      started.set(String(e.eventId), t);
      if ((e.activityTaskStartedEventAttributes.attempt ?? 1) > 1) retried++;
    }
    const end = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
    if (end && 'startedEventId' in end && end.startedEventId) {
      const s = started.get(String(end.startedEventId));
      if (s !== undefined) intervals.push([s, t]);
    }
  }
  intervals.sort((a, b) => a[0] - b[0]);
  if (process.env.BENCH_GAPS) {
    const t0 = ms(events[0]?.eventTime as never);
    let end = t0;
    for (const [s, e] of intervals) {
      if (s - end > 15) console.log(`    gap ${(s - end).toFixed(0)} ms at +${(end - t0).toFixed(0)} ms`);
      end = Math.max(end, e);
    }
    console.log(`    tail ${(ms(events[events.length - 1]?.eventTime as never) - end).toFixed(0)} ms`);
  }
  let busy = 0;
  let curS = -1;
  let curE = -1;
  for (const [s, e] of intervals) {
    if (s > curE) {
      if (curE > curS) busy += curE - curS;
      curS = s;
      curE = e;
    } else curE = Math.max(curE, e);
  }
  if (curE > curS) busy += curE - curS;
  const wall = ms(events[events.length - 1]?.eventTime as never) - ms(events[0]?.eventTime as never);
  return { wallMs: wall, busyMs: busy, events: events.length, retried };
}

async function activityDurations(client: Client, workflowId: string): Promise<string> {
  const h = await client.workflow.getHandle(workflowId).fetchHistory();
  const sched = new Map<string, { type: string; t: number }>();
  const out: string[] = [];
  for (const e of h.events ?? []) {
    const t = ms(e.eventTime as never);
    if (e.activityTaskScheduledEventAttributes) sched.set(String(e.eventId), { type: e.activityTaskScheduledEventAttributes.activityType?.name ?? '?', t });
    const c = e.activityTaskCompletedEventAttributes;
    if (c) {
      const s = sched.get(String(c.scheduledEventId));
      if (s) out.push(`${s.type} ${(t - s.t).toFixed(0)} ms`);
    }
  }
  return out.join(', ');
}

function peakRssMb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

const SPLIT = process.env.BENCH_SPLIT === '1';

async function run(client: Client, env: NodeJS.ProcessEnv, file: string, id: string): Promise<{ wallS: number; rssMb: number; rss: string }> {
  const roles = SPLIT ? ['control', 'sample', 'score', 'train'] : [null];
  const workers = roles.map((role) =>
    spawn(process.execPath, [CLI, 'worker', ...(role ? ['--roles', role] : [])], { env, stdio: ['ignore', 'ignore', 'ignore'] }),
  );
  try {
    const t0 = performance.now();
    const start = spawn(process.execPath, [CLI, 'start', file, '--id', id], { env, stdio: 'ignore' });
    await new Promise((r) => start.once('exit', r));
    await client.workflow.getHandle(id).result();
    const wallS = (performance.now() - t0) / 1000;
    const each = workers.map((w) => peakRssMb(w.pid!));
    return { wallS, rssMb: Math.max(...each), rss: roles.map((r, i) => `${r ?? 'all roles'} ${each[i].toFixed(0)} MB`).join(', ') };
  } finally {
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null ? r(null) : w.once('exit', r)))));
  }
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alignloop-bench-campaign-'));
  const port = await freePort();
  const server = await startDetached({ dbFile: path.join(dir, 'temporal.db'), port, uiPort: await freePort(), logFile: path.join(dir, 'temporal.log') });
  const env = { ...process.env, TEMPORAL_ADDRESS: server.address, ALIGNLOOP_LOG_LEVEL: 'ERROR' };
  const client = new Client({ connection: await Connection.connect({ address: server.address }) });
  try {
    console.log(`one iteration of P prompts x 8 samples, ${SHARD} prompts per shard, one all-roles worker process (${os.cpus().length} cores)\n`);
    for (const n of SIZES) {
      const file = campaignFile(dir, `size-${n}`, promptsFile(dir, n), n, 1, SHARD, 5);
      const id = `size-${n}`;
      const r = await run(client, env, file, id);
      const cov = await activityCoverage(client, `${id}/iter-0`);
      const m = JSON.parse(fs.readFileSync(path.join(dir, 'artifacts', id, 'iter-000', 'manifest.json'), 'utf8')) as {
        timings_seconds: Record<string, number>;
      };
      const stages = Object.entries(m.timings_seconds)
        .map(([k, v]) => `${k} ${v.toFixed(1)} s`)
        .join(', ');
      console.log(`${n} x 8 = ${n * 8} samples: campaign ${r.wallS.toFixed(1)} s; iteration ${(cov.wallMs / 1000).toFixed(1)} s (${stages})`);
      console.log(
        `    orchestration overhead ${(100 * (1 - cov.busyMs / cov.wallMs)).toFixed(1)}% of the iteration (goal < 5%), peak RSS ${r.rss}, ${cov.events} history events, ${cov.retried} activities retried (lost heartbeats would show here)`,
      );
    }
    if (ITERATIONS > 0) {
      const file = campaignFile(dir, 'tiny', promptsFile(dir, 8), 4, ITERATIONS, 4, 1);
      const r = await run(client, env, file, 'tiny');
      const desc = await client.workflow.getHandle('tiny').describe();
      const cov = await activityCoverage(client, `tiny/iter-${ITERATIONS - 1}`);
      const acts = await activityDurations(client, `tiny/iter-${ITERATIONS - 1}`);
      const hist = await client.workflow.getHandle('tiny').fetchHistory();
      const input = hist.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data;
      console.log(
        `\n${ITERATIONS} tiny iterations (4 prompts x 8): ${r.wallS.toFixed(1)} s, ${((r.wallS * 1000) / ITERATIONS).toFixed(0)} ms per iteration; ` +
          `carried state of the last run ${input ? input.length : '?'} bytes (run ${desc.runId.slice(0, 8)})`,
      );
      console.log(`    last iteration: ${(cov.wallMs / 1000).toFixed(2)} s in its workflow, activities busy ${(cov.busyMs / 1000).toFixed(2)} s (${acts})`);
    }
  } finally {
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
