/**
 * A worker host's working copy of a store-backed campaign. Before an activity runs, what it reads is
 * pulled from the store into the host's mirror (each object checked against its recorded sha256, and
 * downloaded once per host while it does not change); after it ran, what it wrote is pushed: data
 * first, completion records (`*.done.json`) last and create-only, so no other host ever sees a record
 * before its data, and two hosts finishing the same step cannot both record it. Host-local working
 * state (process registries, the judge's per-host limiter) is never synced.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileSha } from '../artifacts/fingerprint';
import type { ArtifactStore, Progress, StoredObject } from './artifact-store';
import { linkOrCopy, type LocalCache } from './local-cache';

export interface PullScope {
  /** Single objects (a FileRef's, a checkpoint's files) pulled whatever their size, checked against sha256 when given. */
  files: { key: string; sha256?: string }[];
  /** Key prefixes (ending in "/") whose small objects are pulled: a filter narrows the objects, `skip` whole sub-folders. */
  prefixes: { prefix: string; only?: (key: string) => boolean; skip?: (folder: string) => boolean }[];
}

export interface PushOutcome {
  uploaded: number;
  bytes: number;
  /** Completion records another host wrote first (with other content): the local copies now hold theirs. */
  conflicts: string[];
}

type Snapshot = Map<string, { bytes: number; mtimeMs: number }>;

/** Never synced: per-host working state, temporary and lock files. */
export function hostLocal(key: string): boolean {
  return (
    /(^|\/)(processes|judge-limiter)(\/|$)/.test(key) ||
    /\.tmp-[^/]*$/.test(key) ||
    /\.lock(\/|$)/.test(key) ||
    /\.pin-\d+-[^/]*$/.test(key) ||
    key.endsWith('.prev')
  );
}

const isRecord = (key: string) => key.endsWith('.done.json');

export class CampaignMirror {
  /** What this process last pulled or pushed per key: skip unchanged objects without downloading them. */
  private readonly synced = new Map<string, { etag?: string; bytes: number; mtimeMs: number }>();
  /** Pulls in this process one at a time: two steps fetching one model download it once. */
  private pulling: Promise<unknown> = Promise.resolve();
  /** Downloads are staged here, never beside their destination (a folder being read shows no partial file). */
  private readonly incoming: string;

  constructor(
    readonly store: ArtifactStore,
    readonly root: string,
    /** Objects above this size under a pulled prefix wait until something names them (checkpoints). */
    readonly smallBytes = 64 * 1024 * 1024,
    /** Where named files (checkpoints, shards by hash) are kept once per host and linked into the mirror. */
    readonly cache?: LocalCache,
  ) {
    fs.mkdirSync(root, { recursive: true });
    // Same filesystem as the copy (a rename), outside every bucket's folder (no bucket name starts with ".").
    const mark = `${path.sep}alignloop-mirror${path.sep}`;
    const i = root.lastIndexOf(mark);
    this.incoming = i >= 0 ? path.join(root.slice(0, i + mark.length), '.incoming') : path.join(root, '.incoming');
  }

  localPath(key: string): string {
    return path.join(this.root, ...key.split('/'));
  }

  private localMatches(key: string, bytes: number, etag?: string): boolean {
    const s = this.synced.get(key);
    if (!s || s.bytes !== bytes || (etag && s.etag && s.etag !== etag)) return false;
    try {
      const st = fs.statSync(this.localPath(key));
      return st.size === bytes && st.mtimeMs === s.mtimeMs;
    } catch {
      return false;
    }
  }

  private remember(key: string, etag?: string): void {
    try {
      const st = fs.statSync(this.localPath(key));
      this.synced.set(key, { ...(etag ? { etag } : {}), bytes: st.size, mtimeMs: st.mtimeMs });
    } catch {
      this.synced.delete(key);
    }
  }

  pull(scope: PullScope, progress?: Progress, opts: { unchecked?: boolean } = {}): Promise<number> {
    const run = this.pulling.then(() => this.pullNow(scope, progress, opts));
    this.pulling = run.catch(() => undefined);
    return run;
  }

  private async pullNow(scope: PullScope, progress?: Progress, opts: { unchecked?: boolean } = {}): Promise<number> {
    const wanted = new Map<string, { sha256?: string; bytes?: number; etag?: string }>();
    for (const p of scope.prefixes) {
      for await (const o of this.objectsUnder(p.prefix, p.skip)) {
        if (hostLocal(o.key) || o.bytes > this.smallBytes || (p.only && !p.only(o.key))) continue;
        if (!this.localMatches(o.key, o.bytes, o.etag)) wanted.set(o.key, { bytes: o.bytes, ...(o.etag ? { etag: o.etag } : {}) });
      }
    }
    for (const f of scope.files) {
      const local = this.localPath(f.key);
      if (f.sha256 && fs.existsSync(local) && fileSha(local) === f.sha256) continue;
      if (!f.sha256 && this.synced.has(f.key) && fs.existsSync(local)) continue;
      wanted.set(f.key, { ...wanted.get(f.key), ...(f.sha256 ? { sha256: f.sha256 } : {}) });
    }
    const total = [...wanted.values()].reduce((s, w) => s + (w.bytes ?? 0), 0);
    let done = 0;
    await inParallel([...wanted.entries()], 4, async ([key, w]) => {
      try {
        if (this.cache && w.sha256) {
          const blob = await this.cache.file(this.store, { key, sha256: w.sha256 }, progress ? (d) => progress(done + d, total) : undefined);
          linkOrCopy(blob, this.localPath(key), this.incoming);
          done += fs.statSync(blob).size;
          this.remember(key, w.etag);
          return;
        }
        const got = await this.store.getFile(key, this.localPath(key), {
          ...(w.sha256 ? { sha256: w.sha256 } : {}),
          ...(opts.unchecked ? { unchecked: true } : {}),
          tmpDir: this.incoming,
          ...(progress ? { progress: (d: number) => progress(done + d, total) } : {}),
        });
        done += got.bytes;
        this.remember(key, w.etag);
      } catch (e) {
        // A named object that is not in the store: the activity says what is missing, in its own words.
        if (/ is missing$/.test((e as Error).message)) return;
        throw e;
      }
    });
    return wanted.size;
  }

  private async *objectsUnder(prefix: string, skip?: (folder: string) => boolean): AsyncIterable<StoredObject> {
    if (!skip) {
      yield* this.store.list(prefix);
      return;
    }
    const level = await this.store.listFolder(prefix);
    yield* level.objects;
    for (const f of level.folders) if (!skip(f) && !hostLocal(f.replace(/\/$/, ''))) yield* this.objectsUnder(f, skip);
  }

  /** The local files under these prefixes (keys), to tell afterwards what an activity wrote. */
  snapshot(prefixes: string[]): Snapshot {
    const out: Snapshot = new Map();
    for (const prefix of prefixes) {
      const dir = this.localPath(prefix.replace(/\/$/, ''));
      walk(dir, prefix.replace(/\/$/, ''), (key, st) => {
        if (!hostLocal(key)) out.set(key, { bytes: st.size, mtimeMs: st.mtimeMs });
      });
    }
    return out;
  }

  /** Pushes what changed under `prefixes` since `before`: data, then completion records, create-only. */
  async push(prefixes: string[], before: Snapshot, progress?: Progress): Promise<PushOutcome> {
    const after = this.snapshot(prefixes);
    const changed = [...after.entries()].filter(([k, v]) => {
      const b = before.get(k);
      return (!b || b.bytes !== v.bytes || b.mtimeMs !== v.mtimeMs) && !this.localMatches(k, v.bytes);
    });
    const data = changed.filter(([k]) => !isRecord(k));
    const records = changed.filter(([k]) => isRecord(k));
    const total = changed.reduce((s, [, v]) => s + v.bytes, 0);
    let done = 0;
    const outcome: PushOutcome = { uploaded: 0, bytes: 0, conflicts: [] };
    await inParallel(data, 4, async ([key]) => {
      // A checkpoint's files were hashed when the trainer's output was fingerprinted: no second pass.
      const put = await this.store.putFile(key, this.localPath(key), {
        sha256: fileSha(this.localPath(key)),
        ...(progress ? { progress: (d: number) => progress(done + d, total) } : {}),
      });
      done += put.bytes;
      outcome.uploaded++;
      outcome.bytes += put.bytes;
      this.remember(key);
    });
    for (const [key] of records) {
      const body = fs.readFileSync(this.localPath(key));
      const put = await this.store.putBytes(key, body, { ifAbsent: true });
      done += put.bytes;
      progress?.(done, total);
      if (put.written) {
        outcome.uploaded++;
        outcome.bytes += put.bytes;
        this.remember(key);
        continue;
      }
      const theirs = await this.store.getBytes(key);
      if (!theirs.equals(body)) {
        fs.writeFileSync(this.localPath(key), theirs);
        outcome.conflicts.push(key);
      }
      this.remember(key);
    }
    // Removed here (checkpoint retention): removed from the store too; not an iteration this host pruned.
    for (const key of before.keys()) {
      const iteration = /^[^/]+\/iter-\d+/.exec(key)?.[0];
      if (!after.has(key) && !hostLocal(key) && (!iteration || fs.existsSync(this.localPath(iteration)))) {
        await this.store.delete(key);
        this.synced.delete(key);
      }
    }
    return outcome;
  }

  /** Folders (keys) steps of this process are using now: never pruned under them. */
  private readonly held = new Map<string, number>();

  hold(folders: string[]): () => void {
    for (const f of folders) this.held.set(f, (this.held.get(f) ?? 0) + 1);
    return () => {
      for (const f of folders) {
        const n = (this.held.get(f) ?? 1) - 1;
        if (n > 0) this.held.set(f, n);
        else this.held.delete(f);
      }
    };
  }

  /** Drops this host's copies of iterations older than `keepFrom` (they stay in the store), unless a step uses one. */
  prune(campaignId: string, keepFrom: number): void {
    const dir = this.localPath(campaignId);
    for (const name of safeList(dir)) {
      const m = /^iter-(\d+)$/.exec(name);
      if (!m || Number(m[1]) >= keepFrom || this.held.has(`${campaignId}/${name}`)) continue;
      fs.rmSync(path.join(dir, name), { recursive: true, force: true });
      for (const key of [...this.synced.keys()]) if (key.startsWith(`${campaignId}/${name}/`)) this.synced.delete(key);
    }
  }
}

function walk(dir: string, key: string, fn: (key: string, st: fs.Stats) => void): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const k = `${key}/${e.name}`;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, k, fn);
    else if (e.isFile()) {
      try {
        fn(k, fs.statSync(p));
      } catch {
        /* removed meanwhile */
      }
    }
  }
}

function safeList(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

async function inParallel<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}
