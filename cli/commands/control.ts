/**
 * Steering a running campaign: `pause`, `resume` (optionally with `--budget` or `--config`), `stop`,
 * `budget`. Each is a Temporal Update with a validator: a refused request is an error here and
 * leaves nothing in the campaign's history. Campaigns whose workers predate Updates get the Signal.
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Command } from 'commander';
import { randomUUID } from 'node:crypto';
import { describeChange } from '../../config/config-changes';
import { EXIT, UserError } from '../../config/errors';
import type { CampaignConfig } from '../../activities/types';
import type { ApplyConfigResult, CampaignStatus, SteerResult } from '../../workflows/messages';

/** The message definitions (loaded with the Temporal workflow package, only when a request is sent). */
const messages = () => import('../../workflows/messages');
import { exitWith, info, out, positiveNumber, temporalClient } from '../context';

type Kind = 'pause' | 'resume' | 'stop' | 'budget';

/** Raised when no worker took the request in time: the Update waits for one. */
class NoWorker extends Error {
  override message = 'no worker took the request in time';
}

/** Runs an Update, or says plainly that it waits for a worker (an Update needs one to run its validator). */
async function update<R>(h: WorkflowHandle, send: () => Promise<R>, waitSeconds: number): Promise<R> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new NoWorker()), waitSeconds * 1000);
  });
  try {
    return await Promise.race([send(), late]);
  } catch (e) {
    const { WorkflowUpdateFailedError } = await import('@temporalio/client');
    if (e instanceof WorkflowUpdateFailedError) {
      const cause = (e.cause as Error | undefined)?.message ?? e.message;
      // Workers of a version before Updates: their workflow code has no handler.
      if (/no registered handler|unknown update/i.test(cause)) throw e;
      throw new UserError(`refused: ${cause}`, EXIT.failure);
    }
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/** What the request did, from the state the campaign was in right after its handler ran. */
function outcome(kind: Kind, id: string, r: SteerResult, budget?: number): { line: string; code: number } {
  if (kind === 'stop') return { line: `stopping ${id}: the current iteration finishes, then the campaign ends (${r.state})`, code: EXIT.ok };
  if (kind === 'pause') return { line: `paused ${id}${r.state === 'pausing' ? ': the iteration in flight finishes first' : ''}`, code: EXIT.ok };
  if (kind === 'budget') return { line: `budget of ${id} set to $${budget!.toFixed(4)} (${r.state})`, code: EXIT.ok };
  if (r.state === 'paused' || r.state === 'failed-paused') return { line: `${id} is still paused: ${r.pauseReason}`, code: EXIT.failure };
  return { line: `resumed ${id}`, code: EXIT.ok };
}

/** The Signal for workers that predate Updates, confirmed through the memo as before. */
async function signalFallback(client: Client, h: WorkflowHandle, kind: Kind, id: string, budgetUsd: number | undefined, waitMs: number) {
  const { pauseSignal, resumeSignal, stopSignal } = await messages();
  const requestId = randomUUID();
  if (kind === 'resume' || kind === 'budget') await h.signal(resumeSignal, { requestId, ...(budgetUsd !== undefined ? { budgetUsd } : {}) });
  else await h.signal(kind === 'pause' ? pauseSignal : stopSignal, { requestId });
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    const memo = (await client.workflow.getHandle(id).describe()).memo?.status as Omit<CampaignStatus, 'summaries'> | undefined;
    if (memo?.lastRequest?.id === requestId) return memo.lastRequest;
    await new Promise((r) => setTimeout(r, 250));
  }
  return null;
}

/** A validated campaign file, checked against the running campaign: what would change, or why it may not. */
async function configEdit(file: string): Promise<CampaignConfig> {
  const { loadCampaign, preflight } = await import('../../activities/campaign/load');
  const { config } = loadCampaign(file);
  await preflight(file, config, { warn: info });
  return config;
}

export async function applyConfig(
  h: WorkflowHandle,
  id: string,
  config: CampaignConfig,
  waitSeconds: number,
  o: { quiet?: boolean } = {},
): Promise<ApplyConfigResult> {
  const { applyConfigUpdate } = await messages();
  const r = await update(h, () => h.executeUpdate(applyConfigUpdate, { args: [{ config }] }), waitSeconds);
  if (r.applied.length === 0) {
    if (!o.quiet) out(`config of ${id}: no change`);
  } else {
    out(`config of ${id}: ${r.applied.length} change${r.applied.length > 1 ? 's' : ''}, from iteration ${r.fromIteration} on:`);
    for (const c of r.applied) out(`  ${describeChange(c)}`);
  }
  return r;
}

async function steer(kind: Kind, id: string, opts: { budget?: number; config?: string; wait: number }): Promise<number> {
  const { WorkflowNotFoundError } = await import('@temporalio/client');
  const edited = opts.config ? await configEdit(opts.config) : null; // file errors before any connection
  const { client } = await temporalClient();
  const h = client.workflow.getHandle(id);
  try {
    const d = await h.describe();
    if (d.status.name !== 'RUNNING') throw new UserError(`campaign "${id}" is not running (${d.status.name.toLowerCase()}); see \`alignloop status ${id}\``);
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) throw new UserError(`no running campaign with id "${id}"`);
    throw e;
  }
  try {
    if (edited) await applyConfig(h, id, edited, opts.wait);
    const { pauseUpdate, resumeUpdate, setBudgetUpdate, stopUpdate } = await messages();
    const r = await update(
      h,
      (): Promise<SteerResult> =>
        kind === 'pause'
          ? h.executeUpdate(pauseUpdate)
          : kind === 'stop'
            ? h.executeUpdate(stopUpdate)
            : kind === 'budget'
              ? h.executeUpdate(setBudgetUpdate, { args: [{ usd: opts.budget! }] })
              : h.executeUpdate(resumeUpdate, { args: [opts.budget !== undefined ? { budgetUsd: opts.budget } : {}] }),
      opts.wait,
    );
    const o = outcome(kind, id, r, opts.budget);
    out(o.line);
    return o.code;
  } catch (e) {
    if (e instanceof NoWorker) {
      out(
        `${kind} of ${id} waits for a worker: none has taken it in ${opts.wait} s (an Update runs on a worker; is \`alignloop worker\` running?); ` +
          'the server holds it until one does (send it again if the server restarts first)',
      );
      return EXIT.ok;
    }
    const { WorkflowUpdateFailedError } = await import('@temporalio/client');
    if (!(e instanceof WorkflowUpdateFailedError) || edited) throw e;
    const r = await signalFallback(client, h, kind, id, opts.budget, opts.wait * 1000);
    if (!r) {
      out(`${kind} sent to ${id}; no worker has handled it yet (is \`alignloop worker\` running?); it takes effect when one does`);
      return EXIT.ok;
    }
    const o = outcome(kind, id, r, opts.budget);
    out(o.line);
    return o.code;
  }
}

export function registerControlCommands(program: Command): void {
  const wait = ['--wait <seconds>', 'how long to wait for a worker to take the request', positiveNumber, 10] as const;
  program
    .command('pause')
    .description('pause after the iteration in flight finishes')
    .argument('<id>', 'campaign id')
    .option(...wait)
    .action((id: string, opts: { wait: number }) => exitWith(steer('pause', id, opts)));
  program
    .command('resume')
    .description(
      'continue a paused campaign (after a failure: retry the failed iteration; nothing finished is redone); exit 1 if it stays paused or the request is refused',
    )
    .argument('<id>', 'campaign id')
    .option('--budget <usd>', 'a new campaign budget in USD (after a budget pause)', positiveNumber)
    .option(
      '--config <file>',
      'apply an edited campaign file first: endpoints, commands, limits, thresholds, budget and iterations may change between iterations; each change is printed and recorded',
    )
    .option(...wait)
    .action((id: string, opts: { budget?: number; config?: string; wait: number }) => exitWith(steer('resume', id, opts)));
  program
    .command('stop')
    .description('finish the current iteration, then end the campaign')
    .argument('<id>', 'campaign id')
    .option(...wait)
    .action((id: string, opts: { wait: number }) => exitWith(steer('stop', id, opts)));
  program
    .command('budget')
    .description('set the campaign budget in USD (it must be above what is spent); a campaign paused at its budget stays paused until `resume`')
    .argument('<id>', 'campaign id')
    .argument('<usd>', 'the new budget', positiveNumber)
    .option(...wait)
    .action((id: string, usd: number, opts: { wait: number }) => exitWith(steer('budget', id, { ...opts, budget: usd })));
}
