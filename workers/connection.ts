/** Where Temporal is: TEMPORAL_ADDRESS (+ Temporal's standard env configuration) or the embedded dev server. */
import { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { DefaultLogger, Logger, LogLevel, NativeConnection, Runtime } from '@temporalio/worker';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EXIT, UserError } from '../config/errors';
import { ensureEmbeddedServer } from './dev-server';

export interface Target {
  address: string;
  namespace: string;
  /** Options for Connection.connect / NativeConnection.connect (TLS, API key, …). */
  connectionOptions: Record<string, unknown>;
  embedded: boolean;
  uiPort?: number;
}

export const STATE_DIR = () => path.resolve(process.env.ALIGNLOOP_HOME ?? '.alignloop');

/**
 * Temporal's environment configuration (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_PROFILE,
 * TEMPORAL_API_KEY, TEMPORAL_TLS_*, profiles in temporal.toml) is always read: a user whose
 * profile names a server gets that server, never a silently started embedded one.
 */
export function configuredTarget(): Target | null {
  let cfg: ReturnType<typeof loadClientConnectConfig>;
  try {
    cfg = loadClientConnectConfig();
  } catch (e) {
    throw new UserError(`Temporal environment configuration: ${(e as Error).message} (check TEMPORAL_PROFILE / TEMPORAL_CONFIG_FILE)`, EXIT.usage);
  }
  const address = (cfg.connectionOptions.address as string | undefined) ?? process.env.TEMPORAL_ADDRESS;
  if (address) return { address, namespace: cfg.namespace ?? 'default', connectionOptions: { ...cfg.connectionOptions, address }, embedded: false };
  if (process.env.TEMPORAL_PROFILE) {
    throw new UserError(
      `Temporal profile "${process.env.TEMPORAL_PROFILE}" names no address; add address = "host:port" to it, or unset TEMPORAL_PROFILE to use the embedded server`,
      EXIT.usage,
    );
  }
  return null;
}

export async function resolveTarget(opts: { startEmbedded: boolean; log?: (s: string) => void }): Promise<Target> {
  const configured = configuredTarget();
  if (configured) return configured;
  if (!opts.startEmbedded && !fs.existsSync(path.join(STATE_DIR(), 'server.json'))) {
    throw new UserError(
      'no Temporal server: set TEMPORAL_ADDRESS (or a profile in temporal.toml), or start one with `alignloop dev-server` or `alignloop run`',
    );
  }
  const s = await ensureEmbeddedServer(STATE_DIR(), opts.log);
  return { address: s.address, namespace: 'default', connectionOptions: { address: s.address }, embedded: true, uiPort: s.uiPort };
}

/** One line with the address and what to do, instead of a gRPC stack trace. */
function unreachable(t: Target, e: unknown): UserError {
  const why = ((e as Error)?.message ?? String(e)).split('\n')[0];
  const fix = t.embedded
    ? 'the embedded dev server is not answering: `alignloop dev-server --stop`, then `alignloop run` starts a fresh one'
    : 'check TEMPORAL_ADDRESS (or the address in your temporal.toml profile) and that the server is up';
  return new UserError(`cannot reach Temporal at ${t.address} (${why}); ${fix}`);
}

export async function connectClient(t: Target): Promise<Client> {
  try {
    const connection = await Connection.connect({ connectTimeout: 5000, ...(t.connectionOptions as object) });
    return new Client({ connection, namespace: t.namespace });
  } catch (e) {
    throw unreachable(t, e);
  }
}

let runtimeInstalled = false;
/**
 * The SDK's logger (workflow and activity lifecycle lines, the Core's own) at `defaultLevel` unless
 * ALIGNLOOP_LOG_LEVEL says otherwise; must precede the first native connection.
 */
function installRuntime(defaultLevel: LogLevel): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const level = (process.env.ALIGNLOOP_LOG_LEVEL ?? defaultLevel).toUpperCase() as LogLevel;
  // Role workers other than control poll activities only, by design: the SDK's warning about it is noise.
  const expected = new Set(['No workflows registered, not polling for workflow tasks', 'No Nexus services registered, not polling for Nexus tasks']);
  const inner = new DefaultLogger(level);
  const logger: Logger = {
    log: (l, message, meta) => (expected.has(message) ? undefined : inner.log(l, message, meta)),
    trace: (m, meta) => logger.log('TRACE', m, meta),
    debug: (m, meta) => logger.log('DEBUG', m, meta),
    info: (m, meta) => logger.log('INFO', m, meta),
    warn: (m, meta) => logger.log('WARN', m, meta),
    error: (m, meta) => logger.log('ERROR', m, meta),
  };
  try {
    Runtime.install({ logger });
  } catch {
    /* already installed by the host process */
  }
}

/** `alignloop worker` logs at INFO; `alignloop run` at WARN, so its terminal shows the campaign's progress lines. */
export async function connectWorker(t: Target, defaultLevel: LogLevel = 'INFO'): Promise<NativeConnection> {
  installRuntime(defaultLevel);
  try {
    return await NativeConnection.connect(t.connectionOptions as never);
  } catch (e) {
    throw unreachable(t, e);
  }
}
