import { Client, WorkflowExecutionAlreadyStartedError, WorkflowHandle, WorkflowNotFoundError } from '@temporalio/client';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { IterationSummary } from '../../activities/types';
import { ConfigError, loadCampaignFile } from '../../config/load';
import { QUEUES, Role, ROLES } from '../../config/queues';
import { CampaignStatus, campaignStatusQuery, IterationStatus, iterationStatusQuery, pauseSignal, resumeSignal, stopSignal } from '../../workflows/messages';
import { connectClient, connectWorker, resolveTarget, STATE_DIR, Target } from '../../workers/connection';
import { createWorkers, runWorkers } from '../../workers/workers';
import { EXIT_USAGE, UserError } from '../errors';

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const out = (s: string) => process.stdout.write(s + '\n');
const info = (s: string) => process.stderr.write(s + '\n');

function campaignId(explicit: string | undefined, fallback: string): string {
  const id = explicit ?? fallback;
  if (!ID_PATTERN.test(id)) throw new UserError(`campaign id "${id}" must use letters, digits, ".", "_" or "-" (it names folders)`, EXIT_USAGE);
  return id;
}

function loadOrExplain(file: string) {
  try {
    return loadCampaignFile(file);
  } catch (e) {
    if (e instanceof ConfigError) throw new UserError(e.message, EXIT_USAGE);
    throw e;
  }
}

async function client(startEmbedded = false): Promise<{ client: Client; target: Target }> {
  let target: Target;
  try {
    target = await resolveTarget({ startEmbedded, log: info });
  } catch (e) {
    throw new UserError((e as Error).message);
  }
  return { client: await connectClient(target), target };
}

export async function validateCommand(argv: string[]): Promise<number> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: {} });
  if (positionals.length !== 1) throw new UserError('usage: alignloop validate FILE', EXIT_USAGE);
  const { config: c } = loadOrExplain(positionals[0]);
  out(`ok: ${c.name}: ${c.iterations} iterations x ${c.prompts.perIteration} prompts, ${c.sampler.kind} sampler (${c.sampler.samplesPerPrompt}/prompt), ` +
    `${c.labeler.kind} labeler, ${c.feedback.type} feedback, ${c.trainer.kind} ${c.trainer.method} trainer`);
  return 0;
}

async function startCampaign(c: Client, file: string, id: string | undefined): Promise<{ handle: WorkflowHandle; fresh: boolean; id: string }> {
  const { config } = loadOrExplain(file);
  const cid = campaignId(id, config.name);
  try {
    const handle = await c.workflow.start('campaignWorkflow', {
      workflowId: cid, taskQueue: QUEUES.control, args: [{ campaignId: cid, config }],
      workflowIdConflictPolicy: 'USE_EXISTING', workflowIdReusePolicy: 'REJECT_DUPLICATE',
      memo: { name: config.name, artifactsRoot: config.artifacts.root, file: path.resolve(file) },
    });
    const started = (await handle.describe()).runId === handle.firstExecutionRunId;
    return { handle, fresh: started, id: cid };
  } catch (e) {
    if (e instanceof WorkflowExecutionAlreadyStartedError) {
      throw new UserError(`campaign "${cid}" already ran to the end; see \`alignloop history ${cid}\`, or pass --id NEW_ID to run it again`);
    }
    throw e;
  }
}

export async function startCommand(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { id: { type: 'string' } } });
  if (positionals.length !== 1) throw new UserError('usage: alignloop start FILE [--id ID]', EXIT_USAGE);
  loadOrExplain(positionals[0]); // config errors before any connection
  const { client: c } = await client(true);
  const { id, fresh } = await startCampaign(c, positionals[0], values.id);
  out(fresh ? `started campaign ${id}` : `campaign ${id} is already running`);
  return 0;
}

async function iterationStatus(c: Client, s: CampaignStatus): Promise<IterationStatus | null> {
  if (!s.childWorkflowId) return null;
  try {
    return await c.workflow.getHandle(s.childWorkflowId).query(iterationStatusQuery);
  } catch {
    return null;
  }
}

/** The last activity error, and the judge batches still being waited for (their "not done yet" is progress, not an error). */
async function pendingActivities(c: Client, s: CampaignStatus): Promise<{ lastError: string | null; batches: string[] }> {
  const r = { lastError: null as string | null, batches: [] as string[] };
  if (!s.childWorkflowId) return r;
  try {
    const d = await c.workflow.getHandle(s.childWorkflowId).describe();
    for (const a of d.raw.pendingActivities ?? []) {
      const msg = a.lastFailure?.message;
      if (!msg) continue;
      if (a.lastFailure?.applicationFailureInfo?.type === 'JudgeBatchPending') r.batches.push(msg);
      else r.lastError ??= `${a.activityType?.name} attempt ${a.attempt}: ${msg}`;
    }
  } catch { /* child gone */ }
  return r;
}

function progressLine(s: CampaignStatus, it: IterationStatus | null): string {
  const spend = s.budgetUsd !== null || s.spentUsd > 0 ? `, spent $${s.spentUsd.toFixed(4)}${s.budgetUsd !== null ? ` of $${s.budgetUsd.toFixed(4)}` : ''}` : '';
  const base = `[${s.campaignId}] ${s.state}${s.pauseReason ? ` (${s.pauseReason})` : ''}: ${s.completed}/${s.iterations} iterations done${spend}`;
  if (!it) return base;
  return `${base}; iteration ${it.iteration}: ${it.stage}${it.shardsTotal > 1 ? ` (shards ${it.shardsDone}/${it.shardsTotal})` : ''}`;
}

function fmt(x: number | null, d = 4): string {
  return x === null || x === undefined ? '-' : x.toFixed(d);
}

export function summaryTable(rows: IterationSummary[]): string {
  const withCost = rows.some((r) => (r.costUsd ?? 0) > 0);
  const header = ['iter', 'prompts', 'samples', 'labelled', 'pairs/examples', 'reward mean', 'checkpoint', 'wall s', ...(withCost ? ['cost $'] : [])];
  const body = rows.map((r) => [String(r.iteration), String(r.prompts), String(r.samples), String(r.labelled), String(r.examples), fmt(r.rewardMean),
    r.checkpointSha256.slice(0, 12), r.wallSeconds.toFixed(1), ...(withCost ? [(r.costUsd ?? 0).toFixed(4)] : [])]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join('  ');
  const notes = rows.filter((r) => r.emptyReason).map((r) => `iteration ${r.iteration}: ${r.emptyReason}; training skipped`);
  return [line(header), ...body.map(line), ...notes].join('\n');
}

export async function runCommand(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { id: { type: 'string' }, 'no-worker': { type: 'boolean' } } });
  if (positionals.length !== 1) throw new UserError('usage: alignloop run FILE [--id ID]', EXIT_USAGE);
  loadOrExplain(positionals[0]);
  const t0 = Date.now();
  const { client: c, target } = await client(true);
  const { handle, fresh, id } = await startCampaign(c, positionals[0], values.id);
  info(fresh ? `started campaign ${id} on ${target.address}` : `re-attached to running campaign ${id}`);
  if (target.uiPort) info(`Temporal Web UI: http://127.0.0.1:${target.uiPort}/namespaces/default/workflows/${id}`);

  let stopWorkers: () => void = () => undefined;
  let workersDone: Promise<void> = Promise.resolve();
  if (!values['no-worker']) {
    const conn = await connectWorker(target);
    const workers = await createWorkers(conn, target.namespace, ROLES);
    workersDone = runWorkers(workers, new Promise<void>((r) => (stopWorkers = r))).finally(() => conn.close());
  }
  const onSignal = () => {
    info('\ninterrupted: the campaign keeps its progress in Temporal; `alignloop run` again re-attaches');
    stopWorkers();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const tty = process.stderr.isTTY;
  let last = '';
  const result = handle.result();
  let finished = false;
  result.then(() => (finished = true), () => (finished = true));
  while (!finished) {
    try {
      const s = await handle.query(campaignStatusQuery);
      const line = progressLine(s, await iterationStatus(c, s));
      if (line !== last) {
        if (tty) process.stderr.write(`\r\x1b[K${line}`);
        else info(line);
        last = line;
      }
    } catch { /* between runs (continue-as-new): try again */ }
    await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, 500))]);
  }
  if (tty) process.stderr.write('\n');
  try {
    const r = (await result) as { state: string; summaries: IterationSummary[] };
    out(summaryTable(r.summaries));
    out(`campaign ${id} ${r.state} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  } catch (e) {
    info(`alignloop: campaign ${id} failed: ${rootCause(e)}`);
    return 1;
  } finally {
    stopWorkers();
    await workersDone;
  }
}

export async function statusCommand(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { json: { type: 'boolean' } } });
  const { client: c } = await client();
  const ids = positionals.length ? positionals : await runningCampaigns(c);
  const all = [];
  for (const id of ids) {
    const h = c.workflow.getHandle(id);
    let desc;
    try {
      desc = await h.describe();
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) throw new UserError(`no campaign with id "${id}"; see \`alignloop list\``);
      throw e;
    }
    let s: CampaignStatus | null = null;
    try { s = await h.query(campaignStatusQuery); } catch { /* closed and not queryable */ }
    const it = s ? await iterationStatus(c, s) : null;
    const pending = s ? await pendingActivities(c, s) : { lastError: null, batches: [] };
    all.push({ campaignId: id, workflowStatus: desc.status.name, status: s, iteration: it, lastError: pending.lastError, judgeBatches: pending.batches });
  }
  if (values.json) out(JSON.stringify(positionals.length === 1 ? all[0] : all, null, 2));
  else if (all.length === 0) out('no running campaigns');
  else for (const a of all) {
    out(a.status ? progressLine(a.status, a.iteration) : `[${a.campaignId}] ${a.workflowStatus.toLowerCase()}`);
    for (const b of a.judgeBatches) out(`  waiting: ${b}`);
    if (a.lastError) out(`  last error: ${a.lastError}`);
  }
  return 0;
}

async function runningCampaigns(c: Client): Promise<string[]> {
  const ids: string[] = [];
  for await (const w of c.workflow.list({ query: `WorkflowType = 'campaignWorkflow' AND ExecutionStatus = 'Running'` })) ids.push(w.workflowId);
  return ids;
}

export async function listCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean' } } });
  const { client: c } = await client();
  const rows: { id: string; status: string; start: string; name: string }[] = [];
  for await (const w of c.workflow.list({ query: `WorkflowType = 'campaignWorkflow'` })) {
    if (w.status.name === 'CONTINUED_AS_NEW' || rows.some((r) => r.id === w.workflowId)) continue;
    rows.push({ id: w.workflowId, status: w.status.name.toLowerCase(), start: w.startTime.toISOString(), name: String(w.memo?.name ?? '') });
  }
  if (values.json) out(JSON.stringify(rows, null, 2));
  else if (rows.length === 0) out('no campaigns');
  else for (const r of rows) out(`${r.id.padEnd(30)} ${r.status.padEnd(12)} ${r.start}`);
  return 0;
}

export function signalCommand(kind: 'pause' | 'resume' | 'stop') {
  return async (argv: string[]): Promise<number> => {
    const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: kind === 'resume' ? { budget: { type: 'string' } } : {} });
    if (positionals.length !== 1) throw new UserError(`usage: alignloop ${kind} ID${kind === 'resume' ? ' [--budget USD]' : ''}`, EXIT_USAGE);
    const budget = (values as { budget?: string }).budget;
    if (budget !== undefined && !(Number(budget) > 0)) throw new UserError(`--budget must be a positive number of USD, got "${budget}"`, EXIT_USAGE);
    const { client: c } = await client();
    const h = c.workflow.getHandle(positionals[0]);
    try {
      if (kind === 'resume') await h.signal(resumeSignal, budget !== undefined ? { budgetUsd: Number(budget) } : {});
      else await h.signal(kind === 'pause' ? pauseSignal : stopSignal);
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) throw new UserError(`no running campaign with id "${positionals[0]}"`);
      throw e;
    }
    out(kind === 'stop' ? `stopping ${positionals[0]}: the current iteration finishes, then the campaign ends` : `${kind}d ${positionals[0]}`);
    return 0;
  };
}

export async function readHistory(root: string, id: string): Promise<Record<string, unknown>[]> {
  const dir = path.join(root, id);
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((d) => /^iter-\d+$/.test(d)).sort().flatMap((d) => {
    const f = path.join(dir, d, 'manifest.json');
    return fs.existsSync(f) ? [JSON.parse(fs.readFileSync(f, 'utf8'))] : [];
  });
}

export async function historyCommand(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { json: { type: 'boolean' }, root: { type: 'string' } } });
  if (positionals.length !== 1) throw new UserError('usage: alignloop history ID [--json]', EXIT_USAGE);
  const id = positionals[0];
  let root = values.root;
  if (!root) {
    const { client: c } = await client();
    try {
      root = String((await c.workflow.getHandle(id).describe()).memo?.artifactsRoot);
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) throw new UserError(`no campaign with id "${id}"; pass --root DIR to read manifests without the server`);
      throw e;
    }
  }
  const manifests = await readHistory(root, id);
  const rows = manifests.map((m: any) => ({
    iteration: m.iteration, prompts: m.counts.prompts_in, samples: m.counts.samples, labelled: m.counts.scored,
    examples: m.counts.examples, rewardMean: m.reward?.mean ?? null, checkpoint: m.lineage.checkpoint_out.path,
    checkpointSha256: m.lineage.checkpoint_out.sha256, wallSeconds: Object.values(m.timings_seconds as Record<string, number>).reduce((a, b) => a + b, 0),
    emptyReason: m.empty_reason, costUsd: m.cost?.judge_usd ?? 0, manifest: path.join(root!, id, `iter-${String(m.iteration).padStart(3, '0')}`, 'manifest.json'),
  }));
  if (values.json) out(JSON.stringify(rows, null, 2));
  else out(rows.length ? summaryTable(rows) : `campaign ${id} has no finished iterations yet`);
  return 0;
}

export async function workerCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { roles: { type: 'string' } } });
  const roles = (values.roles ?? ROLES.join(',')).split(',').map((r) => r.trim()).filter(Boolean) as Role[];
  for (const r of roles) if (!ROLES.includes(r)) throw new UserError(`unknown role "${r}"; roles are ${ROLES.join(', ')}`, EXIT_USAGE);
  let target: Target;
  try {
    target = await resolveTarget({ startEmbedded: false });
  } catch (e) {
    throw new UserError((e as Error).message);
  }
  const conn = await connectWorker(target);
  const workers = await createWorkers(conn, target.namespace, roles);
  const stop = new Promise<void>((r) => { process.once('SIGINT', r); process.once('SIGTERM', r); });
  info(`alignloop worker: roles ${roles.join(',')} on ${target.address} (${target.namespace})`);
  await runWorkers(workers, stop);
  await conn.close();
  return 0;
}

export async function devServerCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { stop: { type: 'boolean' }, port: { type: 'string' }, 'ui-port': { type: 'string' } } });
  const dev = await import('../../workers/dev-server');
  const state = STATE_DIR();
  if (values.stop) {
    out(dev.stopEmbeddedServer(state) ? 'stopped the embedded Temporal dev server' : 'no embedded Temporal dev server was running');
    return 0;
  }
  fs.mkdirSync(state, { recursive: true });
  const { spawn } = await import('node:child_process');
  const port = Number(values.port ?? 7233);
  const uiPort = Number(values['ui-port'] ?? 8233);
  if (await dev.portInUse(port)) throw new UserError(`port ${port} is in use (is a dev server already running? \`alignloop dev-server --stop\`), or pass --port`);
  const dbFile = path.join(state, 'temporal.db');
  if (!dev.findTemporalBinary()) {
    info('no Temporal CLI built here: downloading it through the Temporal SDK (needs internet)');
    const d = await dev.startWithSdkDownload({ dbFile, port, uiPort });
    info(`Temporal dev server on ${d.address}, Web UI http://127.0.0.1:${uiPort}, data ${dbFile} (Ctrl-C stops it)`);
    await new Promise<void>((r) => { process.once('SIGINT', () => r()); process.once('SIGTERM', () => r()); });
    await d.stop();
    return 0;
  }
  const child = spawn(dev.temporalBinary(), dev.devServerArgs({ dbFile, port, uiPort }), { stdio: 'inherit' });
  fs.writeFileSync(path.join(state, 'server.json'), JSON.stringify({ pid: child.pid, address: `127.0.0.1:${port}`, uiPort, dbFile }));
  info(`Temporal dev server on 127.0.0.1:${port}, Web UI http://127.0.0.1:${uiPort}, data ${dbFile} (Ctrl-C stops it)`);
  void dev.waitForServer(`127.0.0.1:${port}`).then(() => dev.extendRetention(`127.0.0.1:${port}`), () => undefined);
  const forward = (sig: NodeJS.Signals) => child.kill(sig);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const code = await new Promise<number>((r) => child.on('exit', (c) => r(c ?? 0)));
  fs.rmSync(path.join(state, 'server.json'), { force: true });
  return code;
}

/** "Child Workflow execution failed" says nothing: follow the causes down to the one a user can act on. */
export function rootCause(e: unknown): string {
  const chain: string[] = [];
  let cur = e as (Error & { cause?: unknown }) | undefined;
  while (cur && chain.length < 10) {
    if (cur.message) chain.push(cur.message);
    cur = cur.cause as (Error & { cause?: unknown }) | undefined;
  }
  return chain.length > 1 ? `${chain[chain.length - 1]} (via: ${chain.slice(0, -1).join(' <- ')})` : (chain[0] ?? String(e));
}
