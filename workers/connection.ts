/** Where Temporal is: TEMPORAL_ADDRESS (+ Temporal's standard env configuration) or the embedded dev server. */
import { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { DefaultLogger, LogLevel, NativeConnection, Runtime } from '@temporalio/worker';
import * as path from 'node:path';
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

export async function resolveTarget(opts: { startEmbedded: boolean; log?: (s: string) => void }): Promise<Target> {
  if (process.env.TEMPORAL_ADDRESS) {
    const cfg = loadClientConnectConfig();
    const address = (cfg.connectionOptions.address as string | undefined) ?? process.env.TEMPORAL_ADDRESS;
    return { address, namespace: cfg.namespace ?? 'default', connectionOptions: { ...cfg.connectionOptions, address }, embedded: false };
  }
  if (!opts.startEmbedded) {
    const fs = await import('node:fs');
    const rec = path.join(STATE_DIR(), 'server.json');
    if (!fs.existsSync(rec)) {
      throw new Error('no Temporal server: set TEMPORAL_ADDRESS, or start one with `alignloop dev-server` or `alignloop run`');
    }
  }
  const s = await ensureEmbeddedServer(STATE_DIR(), opts.log);
  return { address: s.address, namespace: 'default', connectionOptions: { address: s.address }, embedded: true, uiPort: s.uiPort };
}

export async function connectClient(t: Target): Promise<Client> {
  const connection = await Connection.connect(t.connectionOptions as never);
  return new Client({ connection, namespace: t.namespace });
}

let runtimeInstalled = false;
/** Worker logs at WARN unless ALIGNLOOP_LOG_LEVEL says otherwise; must precede the first native connection. */
function installRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const level = (process.env.ALIGNLOOP_LOG_LEVEL ?? 'WARN').toUpperCase() as LogLevel;
  try {
    Runtime.install({ logger: new DefaultLogger(level) });
  } catch { /* already installed by the host process */ }
}

export async function connectWorker(t: Target): Promise<NativeConnection> {
  installRuntime();
  return NativeConnection.connect(t.connectionOptions as never);
}
