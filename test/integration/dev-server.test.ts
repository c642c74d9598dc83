/**
 * The embedded Temporal dev server's lifecycle with the real temporal binary: `dev-server --stop`
 * stops a foreground `alignloop dev-server` (not only the background one `run` starts), and no second
 * server is ever started on a database a running one uses.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { processAlive } from '../../activities/artifacts/host';
import { ensureEmbeddedServer, freePort, portInUse, serverUsingDb, startDetached, waitForServer } from '../../workers/dev-server';
import { CLI, tmpDir } from '../helpers/paths';
import { cli, killHard, waitFor } from '../helpers/temporal';

jest.setTimeout(180_000);

/** Kills what a failing test may leave running (by pid, the process and its group). */
function killIfAlive(pid: number | undefined): void {
  if (!pid) return;
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

test('dev-server --stop stops a foreground `alignloop dev-server`: it exits, its port is free, its record gone', async () => {
  const home = tmpDir('alignloop-devserver-');
  const env = { ...process.env, ALIGNLOOP_HOME: home };
  const [port, uiPort] = [await freePort(), await freePort()];
  const fg = spawn(process.execPath, [CLI, 'dev-server', '--port', String(port), '--ui-port', String(uiPort)], { env, stdio: 'ignore' });
  const exited = new Promise<number | null>((r) => fg.once('exit', (c) => r(c)));
  const record = path.join(home, 'server.json');
  let serverPid: number | undefined;
  try {
    serverPid = (await waitFor('server.json', () => fs.existsSync(record) && (JSON.parse(fs.readFileSync(record, 'utf8')) as { pid: number }))).pid;
    await waitForServer(`127.0.0.1:${port}`);
    const r = cli(['dev-server', '--stop'], env);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/stopped the embedded Temporal dev server/);
    expect(r.status).toBe(0);
    expect(processAlive(serverPid)).toBe(false); // --stop returns once it is gone
    expect(await exited).toBe(0);
    expect(await portInUse(port)).toBe(false);
    expect(fs.existsSync(record)).toBe(false);
    expect(serverUsingDb(path.join(home, 'temporal.db'))).toBeNull();
  } finally {
    killIfAlive(serverPid);
    await killHard(fg);
  }
});

test('a server running on the database but not recorded: `run` refuses to start a second one on it', async () => {
  const home = tmpDir('alignloop-devserver-');
  const dbFile = path.join(home, 'temporal.db');
  const s = await startDetached({ dbFile, port: await freePort(), uiPort: await freePort() });
  let second: number | undefined;
  try {
    expect(serverUsingDb(dbFile)).toBe(s.pid);
    const err = await ensureEmbeddedServer(home).then(
      (r) => {
        second = r.pid;
        return null;
      },
      (e: Error) => e,
    );
    expect(err?.message).toMatch(
      new RegExp(`a Temporal dev server \\(pid ${s.pid}\\) already uses .*temporal.db but is not recorded .*stop it \\(kill ${s.pid}\\)`),
    );
    expect(fs.existsSync(path.join(home, 'server.json'))).toBe(false);
  } finally {
    killIfAlive(second);
    killIfAlive(s.pid);
  }
});
