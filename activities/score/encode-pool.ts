/**
 * Tokenization threads for the scorer. Each item's encoding is independent, so a window of items is
 * split across the threads and reassembled in order; a record the template raises on comes back as
 * its error (the caller leaves it unlabelled). Threads hold the process alive only while they work.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Turn } from '../feedback/scored-samples';
import type { EncodeReply, EncodeRequest, EncodeThreadInit } from './encode-thread';
import type { Encoded } from './render';

/** Threads to tokenize with by default: none on small machines (ORT needs the cores), up to 8 on large ones. */
export function defaultTokenizerThreads(cores = os.availableParallelism()): number {
  return cores >= 4 ? Math.min(8, Math.floor(cores / 2)) : 0;
}

export class EncodePool {
  private nextId = 1;
  private busy = 0;
  private readonly pending = new Map<number, (r: EncodeReply) => void>();

  private constructor(private readonly workers: Worker[]) {
    for (const w of workers) {
      w.on('message', (r: EncodeReply) => {
        const done = this.pending.get(r.id);
        this.pending.delete(r.id);
        done?.(r);
      });
      w.unref();
    }
  }

  static open(init: EncodeThreadInit, threads: number): EncodePool {
    return new EncodePool(Array.from({ length: threads }, () => new Worker(path.join(__dirname, 'encode-thread.js'), { workerData: init })));
  }

  private ask(w: Worker, items: { prompt: Turn[]; response: string }[]): Promise<EncodeReply> {
    const id = this.nextId++;
    return new Promise<EncodeReply>((resolve, reject) => {
      const fail = (e: Error) => {
        this.pending.delete(id);
        reject(e);
      };
      w.once('error', fail);
      this.pending.set(id, (r) => {
        w.off('error', fail);
        resolve(r);
      });
      w.postMessage({ id, items } satisfies EncodeRequest);
    });
  }

  async encodeMany(items: { prompt: Turn[]; response: string }[]): Promise<(Encoded | Error)[]> {
    if (this.busy++ === 0) for (const w of this.workers) w.ref();
    try {
      const per = Math.ceil(items.length / this.workers.length);
      const parts = this.workers.map((w, k) => items.slice(k * per, (k + 1) * per)).filter((p) => p.length > 0);
      const replies = await Promise.all(parts.map((p, k) => this.ask(this.workers[k], p)));
      const out: (Encoded | Error)[] = [];
      for (const r of replies) {
        let at = 0;
        r.lengths.forEach((len, i) => {
          const ids = Array.from(r.ids.subarray(at, at + len));
          const typeIds = r.typeIds ? Array.from(r.typeIds.subarray(at, at + len)) : undefined;
          at += len;
          out.push(r.errors[i] !== null ? new Error(r.errors[i]!) : { ids, truncated: r.truncated[i] === 1, ...(typeIds ? { typeIds } : {}) });
        });
      }
      return out;
    } finally {
      if (--this.busy === 0) for (const w of this.workers) w.unref();
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

const pools = new Map<string, { version: string; pool: EncodePool }>();

/** One pool per process and model settings, like the ORT session. */
/** One pool per (model, settings, threads) while the model's files are the same (`version`: their fingerprint). */
export function cachedPool(init: EncodeThreadInit, threads: number, version: string): EncodePool {
  const key = JSON.stringify([init, threads]);
  const hit = pools.get(key);
  if (hit && hit.version === version) return hit.pool;
  if (hit) void hit.pool.close().catch(() => undefined);
  const pool = EncodePool.open(init, threads);
  pools.set(key, { version, pool });
  return pool;
}

export async function closeCachedPools(): Promise<void> {
  const all = [...pools.values()].map((p) => p.pool);
  pools.clear();
  await Promise.all(all.map((p) => p.close()));
}
