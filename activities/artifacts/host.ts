/** This host and its processes, for claims and temp files on storage several hosts may share. */
import * as net from 'node:net';
import * as os from 'node:os';

/** The host name as it may appear in a file name. */
export const HOST = os.hostname().replace(/[^A-Za-z0-9.-]/g, '_');

/** Is a process of this host still running? (EPERM: it runs, under another user.) */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A port free on 127.0.0.1 right now (the embedded server, a managed inference server). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}
