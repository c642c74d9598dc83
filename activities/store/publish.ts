/**
 * Publishing a step's output to the store so that no reader ever sees it half-done and two workers
 * finishing the same step cannot both publish. The data goes up first, content-addressed
 * (`blobs/sha256/<hash>`: a write of one key is always the same bytes, so a zombie attempt's late
 * upload can never change a published file); the seal goes last, create-only, naming every file by
 * its hash. The first seal wins; a later writer gets the winner's seal back and uses it.
 */
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import { sha256File } from '../artifacts/atomic-file';
import type { ArtifactStore, Progress } from './artifact-store';
import type { CachedFile } from './local-cache';

export interface SealedFile {
  sha256: string;
  bytes: number;
}

export interface Seal<E = Record<string, unknown>> {
  /** The step's key (a shard file, a checkpoint folder). */
  key: string;
  /** Relative name -> content; one entry named "" for a single file. */
  files: Record<string, SealedFile>;
  extra: E;
  writer: { host: string; pid: number; at: string };
}

export const blobKey = (sha256: string): string => `blobs/sha256/${sha256.slice(0, 2)}/${sha256}`;
export const sealKey = (key: string): string => `${key}.done.json`;

export interface LocalFile {
  name: string;
  path: string;
  /** When known (a fingerprint), saves a hashing pass. */
  sha256?: string;
}

export async function publish<E>(
  store: ArtifactStore,
  key: string,
  files: LocalFile[],
  extra: E,
  progress?: Progress,
): Promise<{ won: boolean; seal: Seal<E> }> {
  const sealed: Record<string, SealedFile> = {};
  const total = files.reduce((s, f) => s + fs.statSync(f.path).size, 0);
  let before = 0;
  for (const f of files) {
    const up = await store.putFile(blobKey(f.sha256 ?? sha256File(f.path)), f.path, {
      ...(f.sha256 ? { sha256: f.sha256 } : {}),
      ...(progress ? { progress: (d: number) => progress(before + d, total) } : {}),
    });
    before += up.bytes;
    sealed[f.name] = { sha256: up.sha256, bytes: up.bytes };
  }
  const seal: Seal<E> = { key, files: sealed, extra, writer: { host: hostname(), pid: process.pid, at: new Date().toISOString() } };
  const out = await store.putBytes(sealKey(key), JSON.stringify(seal, null, 2) + '\n', { ifAbsent: true });
  if (out.written) return { won: true, seal };
  const winner = await readSeal<E>(store, key);
  if (!winner) throw new Error(`${store.description}: ${sealKey(key)} exists but cannot be read back; retry`);
  return { won: false, seal: winner };
}

export async function readSeal<E = Record<string, unknown>>(store: ArtifactStore, key: string): Promise<Seal<E> | null> {
  const head = await store.head(sealKey(key));
  if (!head) return null;
  const buf = await store.getBytes(sealKey(key));
  const seal = JSON.parse(buf.toString('utf8')) as Seal<E>;
  if (seal.key !== key || typeof seal.files !== 'object') throw new Error(`${store.description}: ${sealKey(key)} is not the seal of ${key}`);
  return seal;
}

/** The seal's files as the cache fetches them. */
export function sealedFiles(seal: Seal<unknown>): Record<string, CachedFile> {
  return Object.fromEntries(Object.entries(seal.files).map(([n, f]) => [n, { key: blobKey(f.sha256), sha256: f.sha256, bytes: f.bytes }]));
}
