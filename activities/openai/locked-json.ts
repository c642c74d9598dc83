/** A small JSON state file shared by every worker, read-modify-written under a lock (proper-lockfile). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as lockfile from 'proper-lockfile';

export interface LockedJsonOptions {
  /**
   * State that must survive a crash or power cut (money spent): every update is fsync'd (file and
   * folder), the version before it is kept as `<file>.prev`, and a file that cannot be read or
   * fails `valid` throws `unreadable(why)` instead of counting as the initial state.
   */
  durable?: { valid: (v: unknown) => boolean; unreadable: (why: string) => Error };
}

export class LockedJsonFile<S> {
  constructor(
    readonly file: string,
    private readonly initial: () => S,
    private readonly options: LockedJsonOptions = {},
  ) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // A durable file that is gone while its previous version is there was lost, not never written: read() refuses it.
    if (!fs.existsSync(file) && !(options.durable && fs.existsSync(this.prevFile))) {
      // Written whole, then linked into place: another worker never reads it half-written.
      const tmp = `${file}.${process.pid}.new`;
      try {
        this.write(tmp, initial());
        try {
          fs.linkSync(tmp, file);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw e;
          fs.writeFileSync(file, JSON.stringify(initial()), { flag: 'wx' }); // no hard links on this storage
        }
        if (options.durable) fsyncDir(path.dirname(file));
      } catch {
        /* another worker created it */
      } finally {
        fs.rmSync(tmp, { force: true });
      }
    }
  }

  get prevFile(): string {
    return `${this.file}.prev`;
  }

  async update<T>(fn: (s: S, now: number) => { state: S; value: T }): Promise<T> {
    const release = await lockfile.lock(this.file, { retries: { retries: 1000, minTimeout: 2, maxTimeout: 20 }, stale: 10000, realpath: false });
    try {
      const r = fn(this.read(), Date.now());
      const tmp = `${this.file}.${process.pid}.tmp`;
      this.write(tmp, r.state);
      if (this.options.durable) {
        // The version before this update, for restoring by hand (a hard link, a copy where links are not supported).
        fs.rmSync(this.prevFile, { force: true });
        if (fs.existsSync(this.file)) {
          try {
            fs.linkSync(this.file, this.prevFile);
          } catch {
            fs.copyFileSync(this.file, this.prevFile);
          }
        }
      }
      fs.renameSync(tmp, this.file);
      if (this.options.durable) fsyncDir(path.dirname(this.file));
      return r.value;
    } finally {
      await release();
    }
  }

  read(): S {
    const durable = this.options.durable;
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (e) {
      const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
      if (!durable || (missing && !fs.existsSync(this.prevFile))) return this.initial();
      throw durable.unreadable(missing ? 'it is missing, but its previous version is there' : (e as Error).message);
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      if (!durable) return this.initial();
      throw durable.unreadable(text.trim() === '' ? `it is empty (${text.length} bytes)` : 'it is not valid JSON (cut off?)');
    }
    if (durable && !durable.valid(value)) throw durable.unreadable('its content is not a ledger of this version');
    return value as S;
  }

  private write(file: string, state: S): void {
    const fd = fs.openSync(file, 'w');
    try {
      fs.writeSync(fd, JSON.stringify(state));
      if (this.options.durable) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
