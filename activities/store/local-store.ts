/**
 * The artifact store on a local (or shared, mounted) folder: keys are paths under the root. Writes
 * go to a temporary file that is fsync'd and renamed (create-only writes link it into place, which
 * fails when the key exists), so the folder holds only whole files.
 */
import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsyncDir, sha256File } from '../artifacts/atomic-file';
import type { ArtifactStore, GetOptions, PutOptions, PutOutcome, StoredObject } from './artifact-store';
import { StoreIntegrityError } from './artifact-store';
import { checkKey, describeLocation, type StoreLocation } from '../../config/store-location';
import { hashingCopy } from './hashing-copy';

export class LocalStore implements ArtifactStore {
  readonly location: StoreLocation;
  readonly description: string;

  constructor(readonly dir: string) {
    this.location = { kind: 'local', dir };
    this.description = describeLocation(this.location);
  }

  private file(key: string): string {
    return path.join(this.dir, ...checkKey(key).split('/'));
  }

  async putFile(key: string, file: string, opts: PutOptions = {}): Promise<PutOutcome> {
    const target = this.file(key);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    const tmp = `${target}.tmp-${randomUUID()}`;
    try {
      const total = fs.statSync(file).size;
      const { sha256, bytes } = await hashingCopy(fs.createReadStream(file), tmp, total, opts.progress);
      if (opts.sha256 && opts.sha256 !== sha256) throw new StoreIntegrityError(key, opts.sha256, sha256, `upload of ${file}`);
      return { key, bytes, sha256, written: this.place(tmp, target, opts.ifAbsent === true) };
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  async putBytes(key: string, body: Buffer | string, opts: Omit<PutOptions, 'progress'> = {}): Promise<PutOutcome> {
    const target = this.file(key);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    const tmp = `${target}.tmp-${randomUUID()}`;
    try {
      const buf = Buffer.isBuffer(body) ? body : Buffer.from(body);
      const fd = fs.openSync(tmp, 'w');
      try {
        fs.writeSync(fd, buf);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      const sha256 = sha256File(tmp);
      if (opts.sha256 && opts.sha256 !== sha256) throw new StoreIntegrityError(key, opts.sha256, sha256, 'write');
      return { key, bytes: buf.length, sha256, written: this.place(tmp, target, opts.ifAbsent === true) };
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  /** Rename into place, or (create-only) hard-link, which fails when the target exists. */
  private place(tmp: string, target: string, ifAbsent: boolean): boolean {
    if (!ifAbsent) fs.renameSync(tmp, target);
    else {
      try {
        fs.linkSync(tmp, target);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw e;
      }
    }
    fsyncDir(path.dirname(target));
    return true;
  }

  async getFile(key: string, dest: string, opts: GetOptions = {}): Promise<StoredObject & { sha256: string }> {
    const src = this.file(key);
    if (!fs.existsSync(src)) throw new Error(`${this.description}: ${key} is missing`);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    if (opts.tmpDir) fs.mkdirSync(opts.tmpDir, { recursive: true });
    const tmp = opts.tmpDir ? path.join(opts.tmpDir, `${path.basename(dest)}.tmp-${randomUUID()}`) : `${dest}.tmp-${randomUUID()}`;
    try {
      const { sha256, bytes } = await hashingCopy(fs.createReadStream(src), tmp, fs.statSync(src).size, opts.progress);
      if (opts.sha256 && opts.sha256 !== sha256) throw new StoreIntegrityError(key, opts.sha256, sha256, this.description);
      fs.renameSync(tmp, dest);
      return { key, bytes, sha256 };
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  async getBytes(key: string, opts: Omit<GetOptions, 'progress'> = {}): Promise<Buffer> {
    const src = this.file(key);
    if (!fs.existsSync(src)) throw new Error(`${this.description}: ${key} is missing`);
    const buf = fs.readFileSync(src);
    if (opts.sha256) {
      const sha256 = createHash('sha256').update(buf).digest('hex');
      if (sha256 !== opts.sha256) throw new StoreIntegrityError(key, opts.sha256, sha256, this.description);
    }
    return buf;
  }

  async head(key: string): Promise<StoredObject | null> {
    const f = this.file(key);
    try {
      const st = fs.statSync(f);
      return st.isFile() ? { key, bytes: st.size, sha256: null } : null;
    } catch {
      return null;
    }
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    const out: StoredObject[] = [];
    const walk = (dir: string, rel: string) => {
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const key = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) walk(path.join(dir, e.name), key);
        else if (e.isFile() && key.startsWith(prefix) && !/\.tmp-[0-9a-f-]{36}$/.test(key))
          out.push({ key, bytes: fs.statSync(path.join(dir, e.name)).size, sha256: null });
      }
    };
    walk(this.dir, '');
    out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    yield* out;
  }

  async listFolder(prefix: string): Promise<{ objects: StoredObject[]; folders: string[] }> {
    const dir = prefix ? this.file(prefix.replace(/\/$/, '')) : this.dir;
    const out = { objects: [] as StoredObject[], folders: [] as string[] };
    let entries: fs.Dirent[] = [];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return out;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.isDirectory()) out.folders.push(`${prefix}${e.name}/`);
      else if (e.isFile() && !/\.tmp-[0-9a-f-]{36}$/.test(e.name))
        out.objects.push({ key: `${prefix}${e.name}`, bytes: fs.statSync(path.join(dir, e.name)).size, sha256: null });
    }
    return out;
  }

  async delete(key: string): Promise<void> {
    fs.rmSync(this.file(key), { force: true });
  }

  async conditionalWrites(): Promise<boolean> {
    return true;
  }
}
