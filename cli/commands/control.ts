/** Steering a running campaign: `pause`, `resume`, `stop` (Signals to its workflow). */
import type { Command } from 'commander';
import { UserError } from '../../config/errors';
import { pauseSignal, resumeSignal, stopSignal } from '../../workflows/messages';
import { exitWith, out, positiveNumber, temporalClient } from '../context';

async function signal(kind: 'pause' | 'resume' | 'stop', id: string, opts: { budget?: number }): Promise<number> {
  const { WorkflowNotFoundError } = await import('@temporalio/client');
  const { client } = await temporalClient();
  const h = client.workflow.getHandle(id);
  try {
    if (kind === 'resume') await h.signal(resumeSignal, opts.budget !== undefined ? { budgetUsd: opts.budget } : {});
    else await h.signal(kind === 'pause' ? pauseSignal : stopSignal);
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) throw new UserError(`no running campaign with id "${id}"`);
    throw e;
  }
  out(kind === 'stop' ? `stopping ${id}: the current iteration finishes, then the campaign ends` : `${kind}d ${id}`);
  return 0;
}

export function registerControlCommands(program: Command): void {
  program
    .command('pause')
    .description('pause after the iteration in flight finishes')
    .argument('<id>', 'campaign id')
    .action((id: string) => exitWith(signal('pause', id, {})));
  program
    .command('resume')
    .description('continue a paused campaign')
    .argument('<id>', 'campaign id')
    .option('--budget <usd>', 'a new campaign budget in USD (after a budget pause)', positiveNumber)
    .action((id: string, opts: { budget?: number }) => exitWith(signal('resume', id, opts)));
  program
    .command('stop')
    .description('finish the current iteration, then end the campaign')
    .argument('<id>', 'campaign id')
    .action((id: string) => exitWith(signal('stop', id, {})));
}
