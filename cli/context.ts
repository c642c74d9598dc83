/** What the command groups share: output, option parsers, campaign files, and the Temporal client. */
import type { Client } from '@temporalio/client';
import { InvalidArgumentError } from 'commander';
import { EXIT, UserError } from '../config/errors';
import type { Target } from '../workers/connection';

export const out = (s: string) => process.stdout.write(s + '\n');
export const info = (s: string) => process.stderr.write(s + '\n');

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function campaignIdOf(explicit: string | undefined, fallback: string): string {
  const id = explicit ?? fallback;
  if (!ID_PATTERN.test(id)) throw new UserError(`campaign id "${id}" must use letters, digits, ".", "_" or "-" (it names folders)`, EXIT.usage);
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
