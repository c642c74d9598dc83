/** A small JSON state file shared by every worker, read-modify-written under a lock (proper-lockfile). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as lockfile from 'proper-lockfile';

export class LockedJsonFile<S> {
  constructor(
    readonly file: string,
    private readonly initial: () => S,
  ) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    if (!fs.existsSync(file)) {
      try {
        fs.writeFileSync(file, JSON.stringify(initial()), { flag: 'wx' });
      } catch {
        /* another worker created it */
      }
    }
  }

  async update<T>(fn: (s: S, now: number) => { state: S; value: T }): Promise<T> {
    const release = await lockfile.lock(this.file, { retries: { retries: 1000, minTimeout: 2, maxTimeout: 20 }, stale: 10000, realpath: false });
    try {
      const r = fn(this.read(), Date.now());
      const tmp = `${this.file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(r.state));
      fs.renameSync(tmp, this.file);
      return r.value;
    } finally {
      await release();
    }
  }

  read(): S {
    try {
      return JSON.parse(fs.readFileSync(this.file, 'utf8')) as S;
    } catch {
      return this.initial();
    }
  }
}
