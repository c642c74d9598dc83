/**
 * Child processes alignloop supervises (managed inference servers, sampler commands, trainers). Each
 * runs in its own process group with stdout and stderr appended to a log file, and is recorded in a
 * per-host registry folder, so that after a worker is SIGKILLed the next attempt on that host finds
 * the orphaned group and kills it before starting another (`reapOrphans`).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ProcessFailed } from '../../config/errors';
import { redact } from '../../config/redact';
import { writeJsonAtomic } from '../artifacts/atomic-file';
import { HOST, processAlive } from '../artifacts/host';
import { allowedProgram } from './allowed-programs';

export interface ProcessRecord {
  label: string;
  host: string;
  pid: number;
  /** The process start time (Linux clock ticks since boot), so a reused pid is never mistaken for ours. */
  start: string | null;
  ownerPid: number;
  ownerStart: string | null;
  argv0: string;
  log: string;
  startedAt: string;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Field 22 of /proc/PID/stat; null where there is no /proc (then only the pid is compared). */
export function processStart(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** Is this (pid, start) the same process that was recorded? */
function sameProcess(pid: number, start: string | null): boolean {
  if (!processAlive(pid)) return false;
  const now = processStart(pid);
  return start === null || now === null || now === start;
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function signalGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    /* already gone */
  }
}

/** SIGTERM to the group, then SIGKILL after graceMs; resolves once no process of the group is left. */
export async function killGroup(pgid: number, graceMs: number): Promise<void> {
  if (!groupAlive(pgid)) return;
  signalGroup(pgid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (groupAlive(pgid) && Date.now() < deadline) await sleep(50);
  if (!groupAlive(pgid)) return;
  signalGroup(pgid, 'SIGKILL');
  for (let i = 0; i < 100 && groupAlive(pgid); i++) await sleep(20);
}

/** The last lines of a log file, secrets redacted, for error messages and `status`. */
export function logTail(file: string, lines = 15, maxBytes = 16384): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const len = Math.min(size, maxBytes);
      const buf = Buffer.alloc(len);
      fs.readSync(fd, buf, 0, len, size - len);
      const text = buf
        .toString('utf8')
        .split(/\r?\n|\r/)
        .filter((l) => l.trim() !== '')
        .slice(-lines)
        .map((l) => (l.length > 300 ? `${l.slice(0, 300)}…` : l));
      return redact(text.join('\n'));
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

export function withLogTail(message: string, log: string): string {
  const tail = logTail(log);
  if (!tail) return `${message} (its log ${log} is empty)`;
  return `${message}; last lines of ${log}:\n${tail
    .split('\n')
    .map((l) => `  | ${l}`)
    .join('\n')}\n`;
}

export interface StartOptions {
  argv: string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
  log: string;
  /** The per-host registry folder (see registryDir). */
  registry: string;
  label: string;
  /** The setting that names the command, for error messages. */
  setting: string;
}

/** A running supervised process. */
export class Supervised {
  private exit: ExitInfo | null = null;
  readonly exited: Promise<ExitInfo>;

  private constructor(
    readonly pid: number,
    readonly log: string,
    readonly recordFile: string,
    exited: Promise<ExitInfo>,
  ) {
    this.exited = exited.then((e) => (this.exit = e));
  }

  get exitInfo(): ExitInfo | null {
    return this.exit;
  }

  static async start(o: StartOptions): Promise<Supervised> {
    fs.mkdirSync(path.dirname(o.log), { recursive: true });
    fs.mkdirSync(o.registry, { recursive: true });
    const program = allowedProgram(o.argv[0], o.env, o.setting);
    const fd = fs.openSync(o.log, 'a');
    fs.writeSync(fd, `# ${new Date().toISOString()} alignloop starts: ${redact(JSON.stringify(o.argv))}\n`);
    let child;
    try {
      child = spawn(program, o.argv.slice(1), { detached: true, stdio: ['ignore', fd, fd], env: o.env, cwd: o.cwd });
    } finally {
      fs.closeSync(fd);
    }
    const exited = new Promise<ExitInfo>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', () => resolve({ code: null, signal: null }));
    });
    if (child.pid === undefined) {
      const err = await new Promise<Error>((r) => child.once('error', r));
      throw new ProcessFailed(
        `${o.setting}: cannot start ${JSON.stringify(o.argv[0])} (${(err as NodeJS.ErrnoException).code ?? err.message}); ` +
          'check the command exists on the PATH of the worker that runs it, or give its absolute path',
      );
    }
    const rec: ProcessRecord = {
      label: o.label,
      host: HOST,
      pid: child.pid,
      start: processStart(child.pid),
      ownerPid: process.pid,
      ownerStart: processStart(process.pid),
      argv0: o.argv[0],
      log: o.log,
      startedAt: new Date().toISOString(),
    };
    const recordFile = path.join(o.registry, `${o.label}-${child.pid}.json`);
    writeJsonAtomic(recordFile, rec);
    child.unref();
    return new Supervised(child.pid, o.log, recordFile, exited);
  }

  get running(): boolean {
    return this.exit === null;
  }

  /** SIGTERM, then SIGKILL of the whole group after graceMs; the registry record goes with it. */
  async stop(graceMs: number): Promise<void> {
    await killGroup(this.pid, graceMs);
    await Promise.race([this.exited, sleep(1000)]);
    fs.rmSync(this.recordFile, { force: true });
  }

  /** After the process ended on its own: nothing of its group may outlive it, and the record goes. */
  async cleanUp(): Promise<void> {
    await killGroup(this.pid, 2000);
    fs.rmSync(this.recordFile, { force: true });
  }
}

/** <campaign>/processes/<host>: where this host's supervised processes of a campaign are recorded. */
export function registryDir(campaignDir: string): string {
  return path.join(campaignDir, 'processes', HOST);
}

/**
 * Kills every recorded process group of this host whose owner (the worker that started it) is gone,
 * and drops its record. Returns what was reaped, for the log and the manifest.
 */
export async function reapOrphans(registry: string, graceMs = 10_000): Promise<ProcessRecord[]> {
  if (!fs.existsSync(registry)) return [];
  const reaped: ProcessRecord[] = [];
  for (const name of fs.readdirSync(registry).filter((f) => f.endsWith('.json'))) {
    const file = path.join(registry, name);
    let rec: ProcessRecord;
    try {
      rec = JSON.parse(fs.readFileSync(file, 'utf8')) as ProcessRecord;
    } catch {
      continue; // being written by its owner
    }
    if (rec.host !== HOST || sameProcess(rec.ownerPid, rec.ownerStart)) continue;
    // A pid reused by an unrelated process means the recorded group is already empty (Linux keeps a
    // group's id reserved while any member lives).
    const reused = processAlive(rec.pid) && rec.start !== null && processStart(rec.pid) !== null && processStart(rec.pid) !== rec.start;
    if (!reused) await killGroup(rec.pid, graceMs);
    fs.rmSync(file, { force: true });
    reaped.push(rec);
  }
  return reaped;
}
