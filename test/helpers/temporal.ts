import { spawn, ChildProcess, spawnSync } from 'node:child_process';
import { Client, Connection, WorkflowHandle } from '@temporalio/client';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, startDetached } from '../../workers/dev-server';
import { CLI, MODELS, QUICKSTART_PROMPTS, tmpDir } from './paths';

export interface TestServer {
  address: string;
  port: number;
  uiPort: number;
  dbFile: string;
  pid: number;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

async function waitGone(pid: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startTestServer(dbFile: string, ports?: { port: number; uiPort: number }): Promise<TestServer> {
  const port = ports?.port ?? (await freePort());
  const uiPort = ports?.uiPort ?? (await freePort());
  const s = await startDetached({ dbFile, port, uiPort, logFile: `${dbFile}.log` });
  return {
    address: s.address,
    port,
    uiPort,
    dbFile,
    pid: s.pid,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      try {
        process.kill(-s.pid, signal);
      } catch {
        /* gone */
      }
      await waitGone(s.pid);
    },
  };
}

export async function testClient(address: string): Promise<Client> {
  return new Client({ connection: await Connection.connect({ address }) });
}

export interface CampaignOverrides {
  iterations?: number;
  perIteration?: number;
  samplesPerPrompt?: number;
  promptsPerShard?: number;
  maxInFlightShards?: number;
  heartbeatTimeoutSeconds?: number;
  batchTokens?: number;
  epochs?: number;
  extra?: string;
  feedback?: string;
  trainer?: string;
  labeler?: string;
  promptsPath?: string;
  sampler?: string;
  /** More durability keys, e.g. "retryMaxIntervalSeconds: 1". */
  durability?: string;
}

/** A small campaign on the quickstart data, written into dir with absolute paths. */
export function writeCampaign(dir: string, name: string, o: CampaignOverrides = {}): string {
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(
    file,
    [
      `name: ${name}`,
      `iterations: ${o.iterations ?? 3}`,
      `prompts: { path: ${o.promptsPath ?? QUICKSTART_PROMPTS}, perIteration: ${o.perIteration ?? 16}, seed: 3 }`,
      `sampler: ${o.sampler ?? `{ kind: builtin, samplesPerPrompt: ${o.samplesPerPrompt ?? 4}, temperature: 1.0, seed: 5 }`}`,
      `labeler: ${o.labeler ?? `{ kind: reward-model, model: ${MODELS.bt}, batchTokens: ${o.batchTokens ?? 8192}, threads: 1 }`}`,
      `feedback: ${o.feedback ?? '{ type: pairwise, mode: max, threshold: 0.01, seed: 1 }'}`,
      `trainer: ${o.trainer ?? `{ kind: builtin, method: dpo, beta: 0.1, epochs: ${o.epochs ?? 30} }`}`,
      `sharding: { promptsPerShard: ${o.promptsPerShard ?? 4}${o.maxInFlightShards ? `, maxInFlightShards: ${o.maxInFlightShards}` : ''} }`,
      `artifacts: { root: ${path.join(dir, 'artifacts')} }`,
      `durability: { heartbeatTimeoutSeconds: ${o.heartbeatTimeoutSeconds ?? 3}${o.durability ? `, ${o.durability}` : ''} }`,
      o.extra ?? '',
    ].join('\n') + '\n',
  );
  return file;
}

export function cliEnv(address: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, TEMPORAL_ADDRESS: address, ALIGNLOOP_LOG_LEVEL: 'ERROR', ...extra };
}

export function cli(args: string[], env: NodeJS.ProcessEnv, cwd?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { env, cwd, encoding: 'utf8', timeout: 300000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** cli() without blocking this process: needed when a fake server the command calls lives in the test process. */
export function cliAsync(args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

export function spawnWorker(env: NodeJS.ProcessEnv, roles?: string, extraArgs: string[] = []): ChildProcess {
  const args = [CLI, 'worker', ...(roles ? ['--roles', roles] : []), ...extraArgs];
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', () => undefined);
  return child;
}

export async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const closed = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await closed;
}

export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 120000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Waits until the workflow's current run has handled everything sent to it (a workflow task completed
 * after its last signal, none scheduled since), then returns what it started since that signal (or
 * since the run began): activities, child workflows, timers. A run waiting on a signal alone returns
 * [], and then nothing can happen until the next signal; no sleep needed to see that it stays put.
 */
export async function settledSinceLastSignal(handle: WorkflowHandle): Promise<string[]> {
  return waitFor(
    'the workflow to handle its signals',
    async () => {
      const events = (await handle.fetchHistory()).events ?? [];
      // A Signal, or an Update the workflow accepted (a refused one leaves no event).
      const signal = events.map((e) => !!(e.workflowExecutionSignaledEventAttributes || e.workflowExecutionUpdateAcceptedEventAttributes)).lastIndexOf(true);
      const completed = events.map((e) => !!e.workflowTaskCompletedEventAttributes).lastIndexOf(true);
      const scheduled = events.map((e) => !!e.workflowTaskScheduledEventAttributes).lastIndexOf(true);
      if (completed < signal || scheduled > completed) return null;
      return events
        .slice(signal + 1)
        .filter((e) => e.activityTaskScheduledEventAttributes || e.startChildWorkflowExecutionInitiatedEventAttributes || e.timerStartedEventAttributes)
        .map((e) => String(e.eventType));
    },
    60000,
    100,
  );
}

/** Every file below dir, relative path -> contents, for byte-for-byte comparison. */
export function filesUnder(dir: string, filter: (rel: string) => boolean): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const rel = path.relative(dir, p);
        if (filter(rel)) out.set(rel, fs.readFileSync(p));
      }
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out;
}

export interface ServerContext {
  server: TestServer;
  client: Client;
  dir: string;
}

/** beforeAll/afterAll for a test file: a dev server with its own SQLite file, a client, a temp dir. */
export function useTestServer(prefix: string): ServerContext {
  const ctx = {} as ServerContext;
  beforeAll(async () => {
    ctx.dir = tmpDir(prefix);
    ctx.server = await startTestServer(path.join(ctx.dir, 'temporal.db'));
    ctx.client = await testClient(ctx.server.address);
  });
  afterAll(async () => {
    await ctx.client?.connection.close();
    await ctx.server?.kill();
  });
  return ctx;
}

/** Starts a campaign with one all-roles worker, waits for its result, and kills the worker. */
export async function runToEnd(ctx: ServerContext, id: string, file: string, env: NodeJS.ProcessEnv = cliEnv(ctx.server.address)) {
  const worker = spawnWorker(env);
  try {
    const r = cli(['start', file, '--id', id], env);
    if (r.status !== 0) throw new Error(`alignloop start ${id} exited ${r.status}: ${r.stderr}`);
    return await ctx.client.workflow.getHandle(id).result();
  } finally {
    await killHard(worker);
  }
}

/** Every record of an iteration's samples shards, in shard order. */
export function samplesOf(ctx: ServerContext, id: string, iteration = 0): Record<string, unknown>[] {
  return stageRecords(ctx, id, iteration, 'samples');
}

/** Every record of an iteration's shards of one stage (samples, scored), in shard order. */
export function stageRecords(ctx: ServerContext, id: string, iteration: number, stage: 'samples' | 'samples-truncated' | 'scored'): Record<string, unknown>[] {
  const dir = path.join(ctx.dir, 'artifacts', id, `iter-${String(iteration).padStart(3, '0')}`, stage);
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .flatMap((f) =>
      fs
        .readFileSync(path.join(dir, f), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    );
}

/**
 * The campaign's result, or an error with its pause reason as soon as it pauses on a failure (a
 * failed-paused campaign never returns a result: waiting for one would only end at the test timeout).
 */
export async function completed(client: Client, id: string): Promise<{ state: string }> {
  const handle = client.workflow.getHandle(id);
  let done = false;
  const watch = (async () => {
    while (!done) {
      await new Promise((r) => setTimeout(r, 500));
      const memo = (await handle.describe().catch(() => null))?.memo as { status?: { state?: string; pauseReason?: string | null } } | undefined;
      if (memo?.status?.state === 'failed-paused') throw new Error(`campaign ${id} paused on a failure: ${memo.status.pauseReason}`);
    }
    return { state: 'unreachable' };
  })();
  try {
    return await Promise.race([handle.result() as Promise<{ state: string }>, watch]);
  } finally {
    done = true;
  }
}
