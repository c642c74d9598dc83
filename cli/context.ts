/** What the command groups share: output, option parsers, campaign files, and the Temporal client. */
import type { Client } from '@temporalio/client';
import { InvalidArgumentError } from 'commander';
import { campaignIdProblem } from '../config/campaign-id';
import { EXIT, UserError } from '../config/errors';
import type { Target } from '../workers/connection';
import { printable } from './terminal-text';

/** Every line printed for people goes through printable(): model and server text never reaches a terminal raw. */
export const out = (s: string) => process.stdout.write(printable(s) + '\n');
export const info = (s: string) => process.stderr.write(printable(s) + '\n');

export function campaignIdOf(explicit: string | undefined, fallback: string): string {
  return checkedCampaignId(explicit ?? fallback);
}

/** The id of an existing campaign given on the command line, held to the rule `start` applies. */
export function checkedCampaignId(id: string): string {
  const problem = campaignIdProblem(id);
  if (problem) throw new UserError(problem, EXIT.usage);
  return id;
}

/** A client for TEMPORAL_ADDRESS / the environment configuration, or for the embedded server (started when asked). */
export async function temporalClient(startEmbedded = false): Promise<{ client: Client; target: Target }> {
  const { connectClient, resolveTarget } = await import('../workers/connection');
  const target = await resolveTarget({ startEmbedded, log: info });
  return { client: await connectClient(target), target };
}

/** commander option parsers: a bad value is a usage error naming the option. */
export function nonNegativeInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`must be a non-negative integer, got "${v}"`);
  return n;
}

export function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`must be a positive integer, got "${v}"`);
  return n;
}

export function positiveNumber(v: string): number {
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError(`must be a positive number, got "${v}"`);
  return n;
}

export function integer(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`must be an integer, got "${v}"`);
  return n;
}

export function oneOf<T extends string>(values: readonly T[]) {
  return (v: string): T => {
    if (!(values as readonly string[]).includes(v)) throw new InvalidArgumentError(`must be one of ${values.join(', ')}, got "${v}"`);
    return v as T;
  };
}

/** Commands return their exit code; main exits with it once the action settles. */
export async function exitWith(code: Promise<number> | number): Promise<void> {
  process.exitCode = await code;
}
