/**
 * The embedded Temporal dev server: `temporal server start-dev` with a SQLite file under
 * .alignloop/, so campaigns survive a restart. The binary comes from ALIGNLOOP_TEMPORAL_BIN, or
 * .tools/bin/temporal (scripts/ensure-temporal.sh builds it with Go); nothing is downloaded.
 */
import { DEV_SERVER_SEARCH_ATTRIBUTES } from '../config/search-attributes';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Connection } from '@temporalio/client';
import { freePort, processAlive } from '../activities/artifacts/host';
import { DevServerError } from '../config/errors';

export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..');

const NO_CLI =
  'the Temporal CLI is not installed: run `bash scripts/ensure-temporal.sh` (builds it with Go), or set ALIGNLOOP_TEMPORAL_BIN to a temporal binary, or TEMPORAL_ADDRESS to a running server';

/** The temporal binary to run, or null when there is none (then the SDK's download is the fallback). */
export function findTemporalBinary(): string | null {
  const override = process.env.ALIGNLOOP_TEMPORAL_BIN;
  if (override) {
    if (!fs.existsSync(override)) throw new DevServerError(`ALIGNLOOP_TEMPORAL_BIN=${override} does not exist`);
    return override;
  }
  const local = path.join(PACKAGE_ROOT, '.tools', 'bin', 'temporal');
  return fs.existsSync(local) ? local : null;
}

export function temporalBinary(): string {
  const bin = findTemporalBinary();
  if (!bin) throw new DevServerError(NO_CLI);
  return bin;
}

/**
 * Fallback where there is internet: the SDK downloads the CLI and runs the dev server as a child of
 * this process (it stops when this process ends).
 */
export async function startWithSdkDownload(o: DevServerOptions): Promise<{ address: string; stop: () => Promise<void> }> {
  let testing: typeof import('@temporalio/testing');
  try {
    testing = await import('@temporalio/testing');
  } catch {
    throw new DevServerError(NO_CLI);
  }
  try {
    const env = await testing.TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'cached-download' },
        dbFilename: o.dbFile,
        ip: '127.0.0.1',
        port: o.port,
        ui: true,
        uiPort: o.uiPort,
        namespace: 'default',
      },
    });
    return { address: `127.0.0.1:${o.port}`, stop: () => env.teardown() };
  } catch (e) {
    throw new DevServerError(`${NO_CLI} (the SDK's download failed too: ${(e as Error).message.split('\n')[0]})`);
  }
}

export interface DevServerOptions {
  dbFile: string;
  port: number;
  uiPort: number;
  logFile?: string;
}

export function devServerArgs(o: DevServerOptions): string[] {
  return [
    'server',
    'start-dev',
    '--db-filename',
    o.dbFile,
    '--ip',
    '127.0.0.1',
    '--port',
    String(o.port),
    '--ui-port',
    String(o.uiPort),
    '--log-level',
    'warn',
    '--namespace',
    'default',
    // One host: one partition per task queue, so a freed worker slot gets the next task at once
    // instead of waiting for a poll to land on the partition holding it (gaps of 1-2 s between shards).
    '--dynamic-config-value',
    'matching.numTaskqueueReadPartitions=1',
    '--dynamic-config-value',
    'matching.numTaskqueueWritePartitions=1',
    // A campaign continues as new after every iteration; the server spaces runs of one workflow id
    // at least this far apart (default 1 s, a guard against runaway loops), which made every short
    // iteration cost a second. 100 ms keeps the guard.
    '--dynamic-config-value',
    'history.workflowIdReuseMinimalInterval="100ms"',
    ...DEV_SERVER_SEARCH_ATTRIBUTES.flatMap((a) => ['--search-attribute', a]),
  ];
}

export { freePort };

export async function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/** Waits until the frontend answers gRPC. */
export async function waitForServer(address: string, timeoutMs = 60000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const c = await Connection.connect({ address, connectTimeout: 2000 });
      try {
        await c.workflowService.describeNamespace({ namespace: 'default' });
        return;
      } finally {
        await c.close();
      }
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new DevServerError(`the Temporal dev server at ${address} did not come up within ${timeoutMs / 1000} s: ${(last as Error)?.message}`);
}

/** Closed campaigns are kept 30 days instead of the dev server's default 24 h. */
export function extendRetention(address: string): void {
  spawnSync(temporalBinary(), ['operator', 'namespace', 'update', '--address', address, '--namespace', 'default', '--retention', '720h'], { stdio: 'ignore' });
}

export interface StartedServer {
  pid: number;
  address: string;
  uiPort: number;
}

/** Starts the dev server as a detached background process (its own process group) that outlives this one. */
export async function startDetached(o: DevServerOptions): Promise<StartedServer> {
  fs.mkdirSync(path.dirname(o.dbFile), { recursive: true });
  const logFile = o.logFile ?? path.join(path.dirname(o.dbFile), 'temporal-server.log');
  const log = fs.openSync(logFile, 'a');
  const child = spawn(temporalBinary(), devServerArgs(o), { detached: true, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  child.unref();
  const address = `127.0.0.1:${o.port}`;
  let onExit: ((code: number | null) => void) | undefined;
  const exited = new Promise<never>((_, reject) => {
    onExit = (code) => reject(new DevServerError(`the Temporal dev server exited with code ${code}; see ${logFile}`));
    child.once('exit', onExit);
  });
  exited.catch(() => undefined);
  await Promise.race([waitForServer(address), exited]);
  child.off('exit', onExit!);
  extendRetention(address);
  return { pid: child.pid!, address, uiPort: o.uiPort };
}

interface ServerRecord {
  pid: number;
  address: string;
  uiPort: number;
  dbFile: string;
  /** true: started detached, the pid leads its own process group; false: the child of a foreground `alignloop dev-server`. */
  group?: boolean;
}

/**
 * The project's embedded server: reuse the one recorded in <stateDir>/server.json when it is up,
 * else start one on 7233 (or a free port when 7233 is taken) with <stateDir>/temporal.db.
 */
export async function ensureEmbeddedServer(stateDir: string, log: (s: string) => void = () => undefined): Promise<StartedServer & { started: boolean }> {
  const recordFile = path.join(stateDir, 'server.json');
  if (fs.existsSync(recordFile)) {
    try {
      const r = JSON.parse(fs.readFileSync(recordFile, 'utf8')) as ServerRecord;
      if (processAlive(r.pid)) {
        await waitForServer(r.address, 10000);
        return { pid: r.pid, address: r.address, uiPort: r.uiPort, started: false };
      }
    } catch {
      /* stale record: start a new server */
    }
  }
  const port = (await portInUse(7233)) ? await freePort() : 7233;
  const uiPort = (await portInUse(8233)) ? await freePort() : 8233;
  const dbFile = path.resolve(stateDir, 'temporal.db');
  refuseSecondServer(dbFile, recordFile);
  if (!findTemporalBinary()) {
    log('no Temporal CLI built here: downloading it through the Temporal SDK (needs internet); the server stops when this command ends');
    const d = await startWithSdkDownload({ dbFile, port, uiPort });
    return { pid: process.pid, address: d.address, uiPort, started: true };
  }
  log(`starting the Temporal dev server on 127.0.0.1:${port} (Web UI http://127.0.0.1:${uiPort}, data ${dbFile})`);
  const s = await startDetached({ dbFile, port, uiPort, logFile: path.join(stateDir, 'temporal-server.log') });
  fs.writeFileSync(recordFile, JSON.stringify({ pid: s.pid, address: s.address, uiPort, dbFile, group: true } satisfies ServerRecord));
  return { ...s, started: true };
}

/** Signals the recorded server: its process group when it leads one (started detached), else the process itself. */
function signalServer(r: ServerRecord, sig: NodeJS.Signals): void {
  try {
    process.kill(r.group === false ? r.pid : -r.pid, sig);
  } catch (e) {
    // A record of an older version does not say; a foreground server (`alignloop dev-server`) leads no group.
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
    process.kill(r.pid, sig);
  }
}

async function waitExited(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (processAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

/**
 * Stops the recorded server (the background one `run` started, or a foreground `alignloop dev-server`)
 * and waits until it is gone; its record is removed only then, so a server that did not stop is
 * never forgotten (a later `run` would start a second one on the same database).
 */
export async function stopEmbeddedServer(stateDir: string, waitMs = 30000): Promise<boolean> {
  const recordFile = path.join(stateDir, 'server.json');
  if (!fs.existsSync(recordFile)) return false;
  let r: ServerRecord;
  try {
    r = JSON.parse(fs.readFileSync(recordFile, 'utf8')) as ServerRecord;
  } catch {
    fs.rmSync(recordFile, { force: true });
    return false;
  }
  if (!processAlive(r.pid)) {
    fs.rmSync(recordFile, { force: true });
    return false;
  }
  signalServer(r, 'SIGTERM');
  if (!(await waitExited(r.pid, waitMs))) {
    signalServer(r, 'SIGKILL');
    if (!(await waitExited(r.pid, 5000)))
      throw new DevServerError(`the Temporal dev server (pid ${r.pid}) did not stop; it stays recorded in ${recordFile}: kill it, then run this again`);
  }
  fs.rmSync(recordFile, { force: true });
  return true;
}

/** A running Temporal server on this host that uses dbFile (Linux: read from /proc), or null. */
export function serverUsingDb(dbFile: string): number | null {
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return null; // no /proc: not checked
  }
  for (const pid of pids) {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const i = argv.indexOf('--db-filename');
      if (i >= 0 && argv.includes('start-dev') && path.resolve(argv[i + 1] ?? '') === path.resolve(dbFile)) return Number(pid);
    } catch {
      /* gone meanwhile */
    }
  }
  return null;
}

function refuseSecondServer(dbFile: string, recordFile: string): void {
  const pid = serverUsingDb(dbFile);
  if (pid !== null)
    throw new DevServerError(
      `a Temporal dev server (pid ${pid}) already uses ${dbFile} but is not recorded in ${recordFile}; a second one on the same database would corrupt it: stop it (kill ${pid}), then run this again`,
    );
}

/**
 * `alignloop dev-server`: the project's server in the foreground (Ctrl-C stops it), recorded in
 * <stateDir>/server.json while it runs so other commands find it. Resolves with its exit code.
 */
export async function runDevServerInForeground(stateDir: string, ports: { port: number; uiPort: number }, log: (s: string) => void): Promise<number> {
  fs.mkdirSync(stateDir, { recursive: true });
  const { port, uiPort } = ports;
  if (await portInUse(port))
    throw new DevServerError(`port ${port} is in use (is a dev server already running? \`alignloop dev-server --stop\`), or pass --port`);
  const dbFile = path.join(stateDir, 'temporal.db');
  refuseSecondServer(dbFile, path.join(stateDir, 'server.json'));
  const banner = (address: string) => `Temporal dev server on ${address}, Web UI http://127.0.0.1:${uiPort}, data ${dbFile} (Ctrl-C stops it)`;
  const interrupted = () =>
    new Promise<void>((r) => {
      process.once('SIGINT', () => r());
      process.once('SIGTERM', () => r());
    });
  if (!findTemporalBinary()) {
    log('no Temporal CLI built here: downloading it through the Temporal SDK (needs internet)');
    const d = await startWithSdkDownload({ dbFile, port, uiPort });
    log(banner(d.address));
    await interrupted();
    await d.stop();
    return 0;
  }
  const address = `127.0.0.1:${port}`;
  const child = spawn(temporalBinary(), devServerArgs({ dbFile, port, uiPort }), { stdio: 'inherit' });
  const recordFile = path.join(stateDir, 'server.json');
  fs.writeFileSync(recordFile, JSON.stringify({ pid: child.pid!, address, uiPort, dbFile, group: false } satisfies ServerRecord));
  log(banner(address));
  void waitForServer(address).then(
    () => extendRetention(address),
    () => undefined,
  );
  const forward = (sig: NodeJS.Signals) => child.kill(sig);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const code = await new Promise<number>((r) => child.on('exit', (c) => r(c ?? 0)));
  fs.rmSync(recordFile, { force: true });
  return code;
}
