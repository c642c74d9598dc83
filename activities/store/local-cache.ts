/**
 * A worker host's cache of artifacts it needs as local files (checkpoints for samplers and trainers,
 * reward models for ORT): content-addressed by sha256, so a file is downloaded once per host and
 * checked against its recorded hash; size-capped, least recently used first out. A folder is handed
 * out as a tree of hard links to cached blobs. Entries in use are pinned (a marker naming the live
 * process) and never evicted. Several worker processes may share one cache folder: every entry
 * appears by an atomic rename.
 */
import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ArtifactStore, Progress } from './artifact-store';

export interface CachedFile {
  /** Where the store holds it. */
  key: string;
  sha256: string;
  /** When known: a cached blob of another size is fetched again. */
  bytes?: number;
}

const SHA = /^[0-9a-f]{64}$/;

export class LocalCache {
  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {
    fs.mkdirSync(path.join(dir, 'blobs'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'trees'), { recursive: true });
  }

  private blobPath(sha256: string): string {
    if (!SHA.test(sha256)) throw new Error(`not a sha256: ${JSON.stringify(sha256)}`);
    return path.join(this.dir, 'blobs', sha256.slice(0, 2), sha256);
  }

  /** The local path of one file, downloaded (and hash-checked) unless the cache has it. */
  async file(store: ArtifactStore, f: CachedFile, progress?: Progress): Promise<string> {
    const p = this.blobPath(f.sha256);
    if (fs.existsSync(p) && (f.bytes === undefined || fs.statSync(p).size === f.bytes)) {
      touch(p);
      return p;
    }
    await store.getFile(f.key, p, { sha256: f.sha256, ...(progress ? { progress } : {}) });
    touch(p);
    this.evict();
    return p;
  }

  /**
   * A local folder holding `files` (relative path -> stored file): hard links to cached blobs, built
   * aside and renamed into place, named by the folder's identity. Bytes moved are reported across
   * the whole folder.
   */
  async folder(store: ArtifactStore, files: Record<string, CachedFile>, progress?: Progress): Promise<string> {
    const names = Object.keys(files).sort();
    for (const n of names) checkRelative(n);
    const id = createHash('sha256')
      .update(names.map((n) => `${n}\0${files[n].sha256}`).join('\n'))
      .digest('hex');
    const tree = path.join(this.dir, 'trees', id);
    if (fs.existsSync(path.join(tree, '.complete'))) {
      touch(tree);
      return tree;
    }
    const total = names.reduce((s, n) => s + (files[n].bytes ?? 0), 0);
    let before = 0;
    const tmp = `${tree}.tmp-${randomUUID()}`;
    try {
      for (const n of names) {
        const blob = await this.file(store, files[n], progress ? (d) => progress(before + d, total) : undefined);
        before += files[n].bytes ?? fs.statSync(blob).size;
        progress?.(before, total);
        linkOrCopy(blob, path.join(tmp, ...n.split('/')));
      }
      fs.writeFileSync(path.join(tmp, '.complete'), id);
      try {
        fs.renameSync(tmp, tree);
      } catch (e) {
        // Another process built the same tree first.
        if (!fs.existsSync(path.join(tree, '.complete'))) throw e;
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    touch(tree);
    this.evict();
    return tree;
  }

  /** Marks a path in use by this process until the returned function is called. */
  pin(p: string): () => void {
    const marker = `${p}.pin-${process.pid}-${randomUUID()}`;
    fs.writeFileSync(marker, String(process.pid));
    return () => fs.rmSync(marker, { force: true });
  }

  /** Bytes on disk: trees hold hard links, so a blob counts once however many trees link it. */
  usage(): number {
    let total = 0;
    for (const b of this.blobs()) total += b.size;
    return total;
  }

  private blobs(): { path: string; size: number; atimeMs: number; nlink: number }[] {
    const out = [];
    const root = path.join(this.dir, 'blobs');
    for (const d of safeList(root)) {
      for (const f of safeList(path.join(root, d))) {
        if (!SHA.test(f)) continue;
        const p = path.join(root, d, f);
        try {
          const st = fs.statSync(p);
          out.push({ path: p, size: st.size, atimeMs: st.mtimeMs, nlink: st.nlink });
        } catch {
          /* removed meanwhile */
        }
      }
    }
    return out;
  }

  /**
   * Least recently used out until the cache fits: trees first (a tree's blobs stay while another
   * tree links them), then blobs no tree links. Pinned entries stay even when the cache is over its cap.
   */
  evict(): void {
    if (this.usage() <= this.maxBytes) return;
    const treesDir = path.join(this.dir, 'trees');
    const trees = safeList(treesDir)
      .filter((t) => SHA.test(t))
      .map((t) => ({ path: path.join(treesDir, t), time: mtime(path.join(treesDir, t)) }))
      .sort((a, b) => a.time - b.time);
    for (const t of trees) {
      if (this.usage() <= this.maxBytes) return;
      if (pinned(t.path)) continue;
      fs.rmSync(t.path, { recursive: true, force: true });
    }
    for (const b of this.blobs().sort((a, c) => a.atimeMs - c.atimeMs)) {
      if (this.usage() <= this.maxBytes) return;
      if (b.nlink > 1 || pinned(b.path)) continue;
      fs.rmSync(b.path, { force: true });
    }
  }
}

/** A cached blob at `target` (replacing what is there): a hard link, or a copy across filesystems. */
export function linkOrCopy(blob: string, target: string, tmpDir?: string): void {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  if (tmpDir) fs.mkdirSync(tmpDir, { recursive: true });
  const tmp = tmpDir ? path.join(tmpDir, `${path.basename(target)}.tmp-${randomUUID()}`) : `${target}.tmp-${randomUUID()}`;
  try {
    fs.linkSync(blob, tmp);
  } catch {
    fs.copyFileSync(blob, tmp);
  }
  fs.renameSync(tmp, target);
}

function checkRelative(n: string): void {
  if (n === '' || n.startsWith('/') || n.split('/').some((s) => s === '' || s === '.' || s === '..'))
    throw new Error(`not a relative file name inside a folder: ${JSON.stringify(n)}`);
}

function touch(p: string): void {
  const now = new Date();
  try {
    fs.utimesSync(p, now, now);
  } catch {
    /* evicted meanwhile: the caller already holds it */
  }
}

function mtime(p: string): number {
  try {
    return fs.statSync(p).mtimeMs;
  } catch {
    return 0;
  }
}

function safeList(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** A pin marker whose process still runs. */
function pinned(p: string): boolean {
  const dir = path.dirname(p);
  const base = path.basename(p);
  for (const f of safeList(dir)) {
    const m = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.pin-(\\d+)-`).exec(f);
    if (!m) continue;
    try {
      process.kill(Number(m[1]), 0);
      return true;
    } catch {
      fs.rmSync(path.join(dir, f), { force: true }); // its process is gone
    }
  }
  return false;
}
