/** Looking at campaigns: `status`, `list`, `history`. */
import { ConfigChange, describeChange } from '../../config/config-changes';
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import type { ArtifactsSettings } from '../../config/store-location';
import type { LocalRoot } from '../store-root';
import * as path from 'node:path';
import { readManifests } from '../../activities/audit/manifests';
import { EXIT, UserError } from '../../config/errors';
import type { CampaignStatus, IterationStatus } from '../../workflows/messages';
import { checkedCampaignId, exitWith, out, positiveNumber, temporalClient } from '../context';
import { progressLine, summaryTable } from '../progress';
import { CampaignSnapshot, campaignSnapshot, StoreTransfer } from '../snapshot';
import { printable } from '../terminal-text';
import { trainingText } from '../training-progress';

export async function iterationStatus(c: Client, s: CampaignStatus): Promise<IterationStatus | null> {
  if (!s.childWorkflowId) return null;
  try {
    const { iterationStatusQuery } = await import('../../workflows/messages');
    return await c.workflow.getHandle(s.childWorkflowId).query(iterationStatusQuery);
  } catch {
    return null;
  }
}

async function runningCampaigns(c: Client): Promise<string[]> {
  const ids: string[] = [];
  for await (const w of c.workflow.list({ query: `WorkflowType = 'campaignWorkflow' AND ExecutionStatus = 'Running'` })) ids.push(w.workflowId);
  return ids;
}

const mb = (n: number) => `${(n / 1e6).toFixed(n < 1e8 ? 1 : 0)} MB`;

/** "uploading 1200/4000 MB (30%) at 150 MB/s · trainPolicy" */
export function transferText(t: StoreTransfer): string {
  const pct = t.totalBytes > 0 ? ` (${Math.floor((100 * t.doneBytes) / t.totalBytes)}%)` : '';
  return `${t.phase === 'upload' ? 'uploading' : 'downloading'} ${mb(t.doneBytes)} of ${mb(t.totalBytes)}${pct} at ${mb(t.bytesPerSecond)}/s · ${t.activity}`;
}

export function snapshotLines(a: CampaignSnapshot): string[] {
  const lines = [a.status && a.workflowStatus === 'RUNNING' ? progressLine(a.status, a.iteration, a.training) : `[${a.campaignId}] ${a.state}`];
  if (a.status && a.workflowStatus === 'RUNNING') lines.push(...inFlightLines(a.status, [a.iteration, ...(a.alsoInFlight ?? [])]));
  if (a.closedFailure) lines.push(`  failure: ${a.closedFailure}`);
  for (const t of a.transfers ?? []) lines.push(`  ${transferText(t)}`);
  for (const b of a.judgeBatches) lines.push(`  waiting: ${b}`);
  for (const r of a.retrying) lines.push(`  retrying: ${r.activity} attempt ${r.attempt}: ${r.error}`);
  for (const q of a.noWorker) lines.push(`  waiting: no worker polls ${q}`);
  const ev = a.status?.evaluation;
  if (ev?.best)
    lines.push(
      `  best: iteration ${ev.best.iteration} by ${ev.bestBy} ${ev.best.value.toFixed(4)} (${ev.best.checkpoint}, sha256 ${ev.best.checkpointSha256.slice(0, 12)}); ${ev.sinceBest} evaluation(s) since`,
    );
  if (ev?.stopReason) lines.push(`  stopped by ${ev.stopReason}`);
  if (ev?.guardWarning) lines.push(`  warning: ${ev.guardWarning}`);
  if (a.next) lines.push(`  next: ${a.next}`);
  return lines;
}

/** Iterations that overlap (schedule.maxPolicyLag > 0): one line per iteration in flight or sampled ahead, with its lag. */
export function inFlightLines(s: Pick<CampaignStatus, 'inFlight' | 'maxPolicyLag'>, progress: (IterationStatus | null)[]): string[] {
  return (s.inFlight ?? []).map((f) => {
    const it = f.state === 'running' ? progress.find((p) => p?.iteration === f.iteration) : undefined;
    const stage = it ? ` (stage ${it.stage}${it.shardsTotal > 1 ? `, shards ${it.shardsDone}/${it.shardsTotal}` : ''})` : '';
    const what = f.state === 'gathered' ? 'gathered, waits to train' : f.state === 'waiting' ? 'waits to gather' : `${f.half} running${stage}`;
    return `  iteration ${f.iteration}: ${what}; sampled from checkpoint version ${f.sampledFromVersion} (lag ${f.lag} of at most ${s.maxPolicyLag ?? 0})`;
  });
}

/** Exit 1 when a campaign shown needs a person (failed, terminated, timed out, paused on a failure). */
/** Follows one campaign until it is no longer running: bars per stage on a terminal, a line per change otherwise. */
async function watch(id: string, intervalS: number): Promise<number> {
  const { Rate, renderRows, stageRows } = await import('../progress-bars');
  const { client: c } = await temporalClient();
  const tty = process.stdout.isTTY === true;
  const rates = new Map<string, InstanceType<typeof Rate>>([
    ['sample', new Rate()],
    ['label', new Rate()],
  ]);
  let drawn = 0;
  let lastPlain = '';
  for (;;) {
    const snap = await campaignSnapshot(c, id);
    const now = Date.now();
    const rows = snap.iteration ? stageRows(snap.iteration) : [];
    for (const r of rows) rates.get(r.stage)?.observe(now, r.done);
    if (tty) {
      const lines = [...snapshotLines(snap), ...(snap.iteration ? [`iteration ${snap.iteration.iteration}:`, ...renderRows(rows, rates, snap.training)] : [])];
      if (drawn) process.stdout.write(`\x1b[${drawn}A\x1b[J`);
      process.stdout.write(printable(lines.join('\n')) + '\n');
      drawn = lines.length;
    } else {
      const train = snap.training && snap.iteration?.stage === 'train' ? ` (${trainingText(snap.training)})` : '';
      const line = `${snap.state}${snap.iteration ? ` iteration ${snap.iteration.iteration} ${rows.map((r) => `${r.stage} ${r.done}/${r.total}`).join(' ')}${train}` : ''}`;
      if (line !== lastPlain) out(`${new Date(now).toISOString()} ${id} ${line}`);
      lastPlain = line;
    }
    if (!['running', 'pausing', 'stopping'].includes(snap.state)) return snap.needsAttention ? EXIT.failure : EXIT.ok;
    await new Promise((r) => setTimeout(r, intervalS * 1000));
  }
}

async function status(ids: string[], opts: { json?: boolean; watch?: boolean; interval?: number }): Promise<number> {
  if (opts.watch) {
    if (ids.length !== 1) throw new UserError('--watch follows one campaign: pass its id', EXIT.usage);
    return watch(ids[0], opts.interval ?? 1);
  }
  const { client: c } = await temporalClient();
  const which = ids.length ? ids : await runningCampaigns(c);
  const all: CampaignSnapshot[] = [];
  for (const id of which) all.push(await campaignSnapshot(c, id));
  if (opts.json) out(JSON.stringify(ids.length === 1 ? all[0] : all, null, 2));
  else if (all.length === 0) out('no running campaigns');
  else for (const a of all) out(snapshotLines(a).join('\n'));
  return all.some((a) => a.needsAttention) ? EXIT.failure : EXIT.ok;
}

async function list(opts: { json?: boolean }): Promise<number> {
  const { client: c } = await temporalClient();
  const rows: { id: string; status: string; start: string; name: string }[] = [];
  for await (const w of c.workflow.list({ query: `WorkflowType = 'campaignWorkflow'` })) {
    if (w.status.name === 'CONTINUED_AS_NEW' || rows.some((r) => r.id === w.workflowId)) continue;
    rows.push({ id: w.workflowId, status: w.status.name.toLowerCase(), start: w.startTime.toISOString(), name: String(w.memo?.name ?? '') });
  }
  if (opts.json) out(JSON.stringify(rows, null, 2));
  else if (rows.length === 0) out('no campaigns');
  else for (const r of rows) out(`${r.id.padEnd(30)} ${r.status.padEnd(12)} ${r.start}`);
  return 0;
}

/** Where a campaign's artifacts are: --root, else what the campaign recorded on the server. */
/** The artifacts settings a campaign recorded at start (the root alone for campaigns started before 0.5.0). */
export async function artifactsOf(id: string, root?: string): Promise<ArtifactsSettings> {
  checkedCampaignId(id); // the id names a folder under the root: never ../ outside it
  if (root) return { root };
  const { WorkflowNotFoundError } = await import('@temporalio/client');
  const { client: c } = await temporalClient();
  try {
    const memo = (await c.workflow.getHandle(id).describe()).memo ?? {};
    const recorded = memo.artifacts as ArtifactsSettings | undefined;
    return recorded && typeof recorded.root === 'string' ? recorded : { root: String(memo.artifactsRoot) };
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) throw new UserError(`no campaign with id "${id}"; pass --root DIR to read the artifacts without the server`);
    throw e;
  }
}

/** A local folder with the campaign's artifacts: its root, or a copy pulled from its object store. */
export async function artifactsRootOf(id: string, root?: string, opts: { fresh?: boolean } = {}): Promise<string> {
  return (await localArtifacts(id, root, opts)).root;
}

export async function localArtifacts(id: string, root?: string, opts: { fresh?: boolean } = {}): Promise<LocalRoot> {
  const { localRootOf } = await import('../store-root');
  return localRootOf(id, await artifactsOf(id, root), opts);
}

async function history(id: string, opts: { json?: boolean; root?: string }): Promise<number> {
  const root = await artifactsRootOf(id, opts.root);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- manifests are JSON read back from disk
  const rows = readManifests(root, id).map((m: any) => ({
    iteration: m.iteration,
    prompts: m.counts.prompts_in,
    samples: m.counts.samples,
    labelled: m.counts.scored,
    examples: m.counts.examples,
    rewardMean: m.reward?.mean ?? null,
    checkpoint: m.lineage.checkpoint_out.path,
    checkpointSha256: m.lineage.checkpoint_out.sha256,
    // The chain: each iteration's checkpoint names the one it was trained from.
    parentSha256: m.lineage.policy_in?.sha256 ?? null,
    wallSeconds: Object.values(m.timings_seconds as Record<string, number>).reduce((a, b) => a + b, 0),
    emptyReason: m.empty_reason,
    costUsd: m.cost?.judge_usd ?? 0,
    manifest: path.join(root!, id, `iter-${String(m.iteration).padStart(3, '0')}`, 'manifest.json'),
    configChanges: (m.config_changes ?? []) as ConfigChange[],
    // Iterations that overlap: how many checkpoint versions its samples were behind the one it trained from.
    ...(m.policy_lag ? { policyLag: { min: m.policy_lag.min, max: m.policy_lag.max } } : {}),
    ...(m.eval ? { eval: m.eval } : {}),
  }));
  if (opts.json) out(JSON.stringify(rows, null, 2));
  else {
    out(rows.length ? summaryTable(rows) : `campaign ${id} has no finished iterations yet`);
    for (const r of rows.filter((r) => r.configChanges.length))
      out(`iteration ${r.iteration}: config changed (resume --config): ${r.configChanges.map(describeChange).join('; ')}`);
  }
  return 0;
}

export function registerInspectCommands(program: Command): void {
  program
    .command('status')
    .description(
      'state, iteration, stage, shard progress, retries and their errors, queues without workers, what to do next ' +
        '(all running campaigns when no id is given); exit 1 when a campaign failed or is paused on a failure',
    )
    .argument('[ids...]', 'campaign ids')
    .option('--json', 'machine-readable output')
    .option('--watch', 'follow the campaign until it stops running: a progress bar per stage (shards, shards/s, ETA), plain lines when not a terminal')
    .option('--interval <seconds>', 'how often --watch looks', positiveNumber)
    .action((ids: string[], opts: { json?: boolean; watch?: boolean; interval?: number }) => exitWith(status(ids, opts)));
  program
    .command('list')
    .description('campaigns and their states')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) => exitWith(list(opts)));
  program
    .command('history')
    .description('one row per finished iteration, read from the iteration manifests')
    .argument('<id>', 'campaign id')
    .option('--json', 'machine-readable output')
    .option('--root <dir>', "the campaign's artifacts root (read manifests without a Temporal server)")
    .action((id: string, opts: { json?: boolean; root?: string }) => exitWith(history(id, opts)));
}
