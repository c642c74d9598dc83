/** Main-thread handle on the ORT worker thread; one cached session per process and model. */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { PaddedBatch } from './batching';
import type { OrtThreadInit, OrtThreadMessage } from './ort-thread';
import { ModelFolderError } from '../../config/errors';
import { closeCachedPools } from './encode-pool';

export interface Logits {
  data: Float32Array;
  rows: number;
  numLabels: number;
}

export class OrtSession {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (l: Logits) => void; reject: (e: Error) => void }>();
  private constructor(
    private readonly worker: Worker,
    readonly inputNames: string[],
    readonly outputNames: string[],
  ) {
    worker.on('message', (m: OrtThreadMessage) => {
      if (m.kind !== 'result' && m.kind !== 'error') return;
      const p = this.pending.get(m.id as number);
      if (!p) return;
      this.pending.delete(m.id as number);
      if (m.kind === 'error') p.reject(new Error(m.message));
      else p.resolve({ data: m.logits, rows: m.dims[0], numLabels: m.dims.length > 1 ? m.dims[1] : 1 });
    });
    worker.on('error', (e) => this.failAll(e));
    worker.on('exit', (code) => this.failAll(new Error(`ORT thread exited with code ${code}`)));
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  static async open(init: OrtThreadInit): Promise<OrtSession> {
    const worker = new Worker(path.join(__dirname, 'ort-thread.js'), { workerData: init });
    const first = await new Promise<OrtThreadMessage>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    if (first.kind !== 'ready') {
      await worker.terminate();
      throw new ModelFolderError(first.kind === 'error' ? first.message : 'ORT thread failed to start');
    }
    if (!first.outputNames.includes('logits')) {
      await worker.terminate();
      throw new ModelFolderError(
        `${init.modelPath}: the graph has no output named "logits" (outputs: ${first.outputNames.join(', ')}); export it as a sequence classifier (--task text-classification)`,
      );
    }
    if (!first.inputNames.includes('input_ids')) {
      await worker.terminate();
      throw new ModelFolderError(`${init.modelPath}: the graph has no input_ids input (inputs: ${first.inputNames.join(', ')})`);
    }
    worker.unref();
    return new OrtSession(worker, first.inputNames, first.outputNames);
  }

  run(batch: PaddedBatch): Promise<Logits> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const { rows, cols, inputIds, attentionMask, tokenTypeIds } = batch;
      this.worker.postMessage({ id, rows, cols, inputIds, attentionMask, tokenTypeIds }, [
        inputIds.buffer as ArrayBuffer,
        attentionMask.buffer as ArrayBuffer,
        ...(tokenTypeIds ? [tokenTypeIds.buffer as ArrayBuffer] : []),
      ]);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

const cache = new Map<string, { version: string; session: Promise<OrtSession> }>();

/**
 * One session per process and (model, provider, device, threads), reused across activities while the
 * model's files are the same (`version`: their fingerprint). A changed model at the same path gets a
 * new session; the old one is closed (a shard still scoring on it fails, and its retry uses the new one).
 */
export function cachedSession(init: OrtThreadInit, version: string): Promise<OrtSession> {
  const key = JSON.stringify(init);
  const hit = cache.get(key);
  if (hit && hit.version === version) return hit.session;
  if (hit) void hit.session.then((x) => x.close()).catch(() => undefined);
  const session = OrtSession.open(init);
  session.catch(() => cache.get(key)?.session === session && cache.delete(key));
  cache.set(key, { version, session });
  return session;
}

/** Ends every cached session's thread (tests, and worker shutdown). */
export async function closeCachedSessions(): Promise<void> {
  await closeCachedPools();
  const all = [...cache.values()].map((c) => c.session);
  cache.clear();
  await Promise.all(
    all.map((s) =>
      s.then(
        (x) => x.close(),
        () => undefined,
      ),
    ),
  );
}
