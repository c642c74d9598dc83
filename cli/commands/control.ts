/** Steering a running campaign: `pause`, `resume`, `stop` (Signals to its workflow, then what it did). */
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import { randomUUID } from 'node:crypto';
import { EXIT, UserError } from '../../config/errors';
import { CampaignStatus, HandledRequest, pauseSignal, resumeSignal, stopSignal } from '../../workflows/messages';
import { exitWith, out, positiveNumber, temporalClient } from '../context';

type Kind = 'pause' | 'resume' | 'stop';

/** The memo the workflow publishes once it has handled the signal with this request id, or null if no worker handled it in time. */
async function handled(client: Client, id: string, requestId: string, waitMs: number): Promise<Omit<CampaignStatus, 'summaries'> | null> {
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    const memo = (await client.workflow.getHandle(id).describe()).memo?.status as Omit<CampaignStatus, 'summaries'> | undefined;
    if (memo?.lastRequest?.id === requestId) return memo;
    await new Promise((r) => setTimeout(r, 250));
  }
  return null;
}

/** What the signal did, from the state the workflow recorded when it handled it. */
function outcome(kind: Kind, id: string, r: HandledRequest): { line: string; code: number } {
  if (kind === 'stop') return { line: `stopping ${id}: the current iteration finishes, then the campaign ends (${r.state})`, code: EXIT.ok };
  if (kind === 'pause') return { line: `paused ${id}${r.state === 'pausing' ? ': the iteration in flight finishes first' : ''}`, code: EXIT.ok };
  if (r.state === 'paused' || r.state === 'failed-paused') return { line: `${id} is still paused: ${r.pauseReason}`, code: EXIT.failure };
  return { line: `resumed ${id}`, code: EXIT.ok };
}

async function signal(kind: Kind, id: string, opts: { budget?: number; wait: number }): Promise<number> {
  const { WorkflowNotFoundError } = await import('@temporalio/client');
  const { client } = await temporalClient();
  const h = client.workflow.getHandle(id);
  const requestId = randomUUID();
  try {
    const d = await h.describe();
    if (d.status.name !== 'RUNNING') throw new UserError(`campaign "${id}" is not running (${d.status.name.toLowerCase()}); see \`alignloop status ${id}\``);
    if (kind === 'resume') await h.signal(resumeSignal, { requestId, ...(opts.budget !== undefined ? { budgetUsd: opts.budget } : {}) });
    else await h.signal(kind === 'pause' ? pauseSignal : stopSignal, { requestId });
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) throw new UserError(`no running campaign with id "${id}"`);
    throw e;
  }
  const s = await handled(client, id, requestId, opts.wait * 1000);
  if (!s) {
    out(`${kind} sent to ${id}; no worker has handled it yet (is \`alignloop worker\` running?); it takes effect when one does`);
    return EXIT.ok;
  }
  const o = outcome(kind, id, s.lastRequest!);
  out(o.line);
  return o.code;
}

export function registerControlCommands(program: Command): void {
  const wait = ['--wait <seconds>', 'how long to wait for the campaign to confirm', positiveNumber, 10] as const;
  program
    .command('pause')
    .description('pause after the iteration in flight finishes')
    .argument('<id>', 'campaign id')
    .option(...wait)
    .action((id: string, opts: { wait: number }) => exitWith(signal('pause', id, opts)));
  program
    .command('resume')
    .description('continue a paused campaign (after a failure: retry the failed iteration; nothing finished is redone); exit 1 if it stays paused')
    .argument('<id>', 'campaign id')
    .option('--budget <usd>', 'a new campaign budget in USD (after a budget pause)', positiveNumber)
    .option(...wait)
    .action((id: string, opts: { budget?: number; wait: number }) => exitWith(signal('resume', id, opts)));
  program
    .command('stop')
    .description('finish the current iteration, then end the campaign')
    .argument('<id>', 'campaign id')
    .option(...wait)
    .action((id: string, opts: { wait: number }) => exitWith(signal('stop', id, opts)));
}
