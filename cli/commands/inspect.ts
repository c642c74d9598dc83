/** Looking at campaigns: `status`, `list`, `history`. */
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ERROR_TYPE, UserError } from '../../config/errors';
import { CampaignStatus, campaignStatusQuery, IterationStatus, iterationStatusQuery } from '../../workflows/messages';
import { exitWith, out, temporalClient } from '../context';
import { progressLine, summaryTable } from '../progress';

export async function iterationStatus(c: Client, s: CampaignStatus): Promise<IterationStatus | null> {
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
      if (a.lastFailure?.applicationFailureInfo?.type === ERROR_TYPE.JudgeBatchPending) r.batches.push(msg);
      else r.lastError ??= `${a.activityType?.name} attempt ${a.attempt}: ${msg}`;
    }
  } catch {
    /* child gone */
  }
  return r;
}

async function runningCampaigns(c: Client): Promise<string[]> {
  const ids: string[] = [];
  for await (const w of c.workflow.list({ query: `WorkflowType = 'campaignWorkflow' AND ExecutionStatus = 'Running'` })) ids.push(w.workflowId);
  return ids;
}

async function status(ids: string[], opts: { json?: boolean }): Promise<number> {
  const { WorkflowNotFoundError } = await import('@temporalio/client');
  const { client: c } = await temporalClient();
  const which = ids.length ? ids : await runningCampaigns(c);
  const all = [];
  for (const id of which) {
    const h = c.workflow.getHandle(id);
    let desc;
    try {
      desc = await h.describe();
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) throw new UserError(`no campaign with id "${id}"; see \`alignloop list\``);
      throw e;
    }
    let s: CampaignStatus | null = null;
    try {
      s = await h.query(campaignStatusQuery);
    } catch {
      /* closed and not queryable */
    }
    const it = s ? await iterationStatus(c, s) : null;
    const pending = s ? await pendingActivities(c, s) : { lastError: null, batches: [] };
    all.push({ campaignId: id, workflowStatus: desc.status.name, status: s, iteration: it, lastError: pending.lastError, judgeBatches: pending.batches });
  }
  if (opts.json) out(JSON.stringify(ids.length === 1 ? all[0] : all, null, 2));
  else if (all.length === 0) out('no running campaigns');
  else {
    for (const a of all) {
      out(a.status ? progressLine(a.status, a.iteration) : `[${a.campaignId}] ${a.workflowStatus.toLowerCase()}`);
      for (const b of a.judgeBatches) out(`  waiting: ${b}`);
      if (a.lastError) out(`  last error: ${a.lastError}`);
    }
  }
  return 0;
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

/** The iteration manifests of a campaign, oldest first. */
export function readManifests(root: string, id: string): Record<string, unknown>[] {
  const dir = path.join(root, id);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((d) => /^iter-\d+$/.test(d))
    .sort()
    .flatMap((d) => {
      const f = path.join(dir, d, 'manifest.json');
      return fs.existsSync(f) ? [JSON.parse(fs.readFileSync(f, 'utf8'))] : [];
    });
}

async function history(id: string, opts: { json?: boolean; root?: string }): Promise<number> {
  let root = opts.root;
  if (!root) {
    const { WorkflowNotFoundError } = await import('@temporalio/client');
    const { client: c } = await temporalClient();
    try {
      root = String((await c.workflow.getHandle(id).describe()).memo?.artifactsRoot);
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) throw new UserError(`no campaign with id "${id}"; pass --root DIR to read manifests without the server`);
      throw e;
    }
  }
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
    wallSeconds: Object.values(m.timings_seconds as Record<string, number>).reduce((a, b) => a + b, 0),
    emptyReason: m.empty_reason,
    costUsd: m.cost?.judge_usd ?? 0,
    manifest: path.join(root!, id, `iter-${String(m.iteration).padStart(3, '0')}`, 'manifest.json'),
  }));
  if (opts.json) out(JSON.stringify(rows, null, 2));
  else out(rows.length ? summaryTable(rows) : `campaign ${id} has no finished iterations yet`);
  return 0;
}

export function registerInspectCommands(program: Command): void {
  program
    .command('status')
    .description('state, iteration, stage, shard progress and the last activity error (all running campaigns when no id is given)')
    .argument('[ids...]', 'campaign ids')
    .option('--json', 'machine-readable output')
    .action((ids: string[], opts: { json?: boolean }) => exitWith(status(ids, opts)));
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
