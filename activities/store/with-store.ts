/**
 * Store-backed campaigns (`artifacts.root: s3://...`) on workers that share no disk. Every campaign
 * activity runs on this host's mirror of the campaign: before it runs, what it reads is pulled
 * (the files its input names, checkpoint folders they describe, its own earlier outputs, the
 * campaign's small shared records); it runs unchanged on local files; what it wrote is pushed (data
 * first, completion records last, create-only); its result names artifacts by `s3://` URI, never
 * by this host's paths. Campaigns on a local root pass straight through.
 */
import { Context } from '@temporalio/activity';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { newIdentity } from '../artifacts/campaign-identity';
import { IDENTITY_NAME } from '../artifacts/campaign-identity';
import { toActivityFailure } from '../durable';
import { CHECKPOINT_FORMAT } from '../policy/checkpoint-ref';
import type { CampaignConfig } from '../types';
import { CampaignMirror, type PullScope } from './campaign-mirror';
import { LocalCache } from './local-cache';
import { isS3Root, locationOf, type StoreLocation } from '../../config/store-location';
import { keyOf, mapStrings, mirrorRoot, mirrorTail, storeUri, storeUriPrefix } from './mirror-paths';
import { StoreConfigError } from '../../config/errors';
import { S3Store } from './s3-store';

type S3Location = Extract<StoreLocation, { kind: 's3' }>;

export interface HostStoreSettings {
  /** This host's cache: mirrors of store-backed campaigns. */
  cacheDir: string;
  maxBytes: number;
}

export const DEFAULT_CACHE_DIR = (): string => process.env.ALIGNLOOP_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'alignloop');

let host: HostStoreSettings = { cacheDir: DEFAULT_CACHE_DIR(), maxBytes: 100 * 1024 ** 3 };

/** `alignloop worker --cache-dir DIR --cache-max-gb N`. */
export function configureHostStore(settings: Partial<HostStoreSettings>): void {
  host = { ...host, ...settings };
  cache = undefined;
  mirrors.clear();
  bucketMirrors.clear();
}

export function hostStoreSettings(): HostStoreSettings {
  return host;
}

const mirrors = new Map<string, { mirror: CampaignMirror; loc: S3Location }>();
const bucketMirrors = new Map<string, CampaignMirror>();
let cache: LocalCache | undefined;

export function mirrorFor(artifacts: CampaignConfig['artifacts']): { mirror: CampaignMirror; loc: S3Location } {
  const loc = locationOf(artifacts) as S3Location;
  const id = `${storeUriPrefix(loc)}|${loc.endpoint ?? ''}|${host.cacheDir}`;
  let m = mirrors.get(id);
  if (!m) {
    cache ??= new LocalCache(path.join(host.cacheDir, 'content'), host.maxBytes);
    m = { mirror: new CampaignMirror(new S3Store(loc), mirrorRoot(host.cacheDir, loc), undefined, cache), loc };
    mirrors.set(id, m);
  }
  return m;
}

/** This host's copy of a whole bucket on the campaign's S3 endpoint (keys relative to the bucket). */
export function bucketMirror(artifacts: CampaignConfig['artifacts'], bucket: string): CampaignMirror {
  // The endpoint settings of the campaign's store (its root names another bucket, or none here).
  const loc = locationOf({ ...artifacts, root: `s3://${bucket}` }) as S3Location;
  const id = `${bucket}|${loc.endpoint ?? ''}|${host.cacheDir}`;
  let m = bucketMirrors.get(id);
  if (!m) {
    cache ??= new LocalCache(path.join(host.cacheDir, 'content'), host.maxBytes);
    m = new CampaignMirror(new S3Store(loc), mirrorRoot(host.cacheDir, loc), Number.POSITIVE_INFINITY, cache);
    bucketMirrors.set(id, m);
  }
  return m;
}

/**
 * Model folders named by s3:// URL (policy.path, a reward model's folder) become this host's copy,
 * fetched where a step reads them: the initial policy on the control queue, reward models on the
 * score queue. Each is downloaded once per host and refreshed when its objects change.
 */
/** A model folder (or file) named by s3:// URL on the campaign's object store, as this host's copy. */
export async function fetchModelFolder(url: string, artifacts: CampaignConfig['artifacts'], progress?: (d: number, t: number) => void): Promise<string> {
  const at = locationOf({ ...artifacts, root: url }) as S3Location;
  if (!at.prefix) throw new StoreConfigError(`${url}: name a folder in the bucket (s3://BUCKET/FOLDER), not the bucket itself`);
  const m = bucketMirror(artifacts, at.bucket);
  const n = await m.pull({ files: [], prefixes: [{ prefix: `${at.prefix}/` }] }, progress);
  if (n === 0 && !fs.existsSync(m.localPath(at.prefix))) await m.pull({ files: [{ key: at.prefix }], prefixes: [] }, progress); // a single file
  if (!fs.existsSync(m.localPath(at.prefix)))
    throw new StoreConfigError(`${url}: nothing there (no object at it or under it): upload the model, or correct the URL`);
  return m.localPath(at.prefix);
}

async function materialiseModelUrls(
  config: CampaignConfig,
  store: CampaignConfig['artifacts'],
  role: string | undefined,
  activity: string,
  progress: (d: number, t: number) => void,
): Promise<void> {
  const fetchUrl = (url: string) => fetchModelFolder(url, store, progress);
  const policy = (config as { policy?: { path: string } }).policy;
  if (policy && isS3Root(policy.path) && role === 'control' && activity === 'initPolicy') policy.path = await fetchUrl(policy.path);
  if (role !== 'score') return;
  // Every reward model the step may score with (the labeler's, a composite's members', an eval scorer's).
  const walk = async (v: unknown): Promise<void> => {
    if (Array.isArray(v)) for (const x of v) await walk(x);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.kind === 'string' && typeof o.model === 'string' && isS3Root(o.model)) o.model = await fetchUrl(o.model);
      for (const x of Object.values(o)) await walk(x);
    }
  };
  for (const [k, v] of Object.entries(config)) if (k !== 'artifacts' && k !== 'policy') await walk(v);
}

interface CampaignInput {
  campaignId: string;
  config: CampaignConfig;
  campaignRunId?: string;
  iteration?: number;
  shard?: number;
}

const storeBacked = (v: unknown): v is CampaignInput =>
  !!v &&
  typeof v === 'object' &&
  typeof (v as CampaignInput).campaignId === 'string' &&
  typeof (v as CampaignInput).config?.artifacts?.root === 'string' &&
  isS3Root((v as CampaignInput).config.artifacts.root);

const iterFolder = (iteration: number) => `iter-${String(iteration).padStart(3, '0')}`;

/** Every `{ path, sha256 }` in a value whose path is in the store. */
function namedFiles(value: unknown, loc: S3Location, out: { key: string; sha256?: string }[] = []): { key: string; sha256?: string }[] {
  if (Array.isArray(value)) for (const v of value) namedFiles(v, loc, out);
  else if (value && typeof value === 'object') {
    const o = value as { path?: unknown; sha256?: unknown };
    if (typeof o.path === 'string' && typeof o.sha256 === 'string') {
      const key = keyOf(o.path, loc);
      if (key) out.push({ key, sha256: o.sha256 });
    }
    for (const [k, v] of Object.entries(value)) if (k !== 'config') namedFiles(v, loc, out);
  }
  return out;
}

/**
 * The files of the checkpoint folders that pulled descriptors name, by bucket (pulled whatever their
 * size). A folder under any host's copy of a bucket (the campaign's store, or a model fetched from an
 * s3:// policy.path) is pulled into this host's copy of that bucket; a model outside every store
 * (a local policy.path) is each host's own.
 */
export function checkpointFiles(mirror: { localPath(key: string): string }, keys: string[]): Map<string, { key: string; sha256: string }[]> {
  const out = new Map<string, { key: string; sha256: string }[]>();
  for (const key of keys) {
    let d: { format?: unknown; path?: unknown; files?: unknown };
    try {
      d = JSON.parse(fs.readFileSync(mirror.localPath(key), 'utf8'));
    } catch {
      continue;
    }
    if (d.format !== CHECKPOINT_FORMAT || typeof d.path !== 'string' || !d.files || typeof d.files !== 'object') continue;
    const tail = mirrorTail(d.path);
    if (!tail || !tail.includes('/')) continue;
    const bucket = tail.slice(0, tail.indexOf('/'));
    const folder = tail.slice(bucket.length + 1);
    const files = Object.entries(d.files as Record<string, string>);
    // A single-file checkpoint records the file under its own name.
    const single = files.length === 1 && folder.endsWith(`/${files[0][0]}`);
    const list = out.get(bucket) ?? [];
    for (const [name, sha256] of files) list.push({ key: single ? folder : `${folder}/${name}`, sha256 });
    out.set(bucket, list);
  }
  return out;
}

/** Heartbeats transfer progress while the store is synced (downloads before, uploads after the step). */
function transferBeat(phase: 'download' | 'upload') {
  let last = { done: 0, total: 0 };
  const started = Date.now();
  const tick = () => {
    try {
      const secs = Math.max(0.001, (Date.now() - started) / 1000);
      // Listing and comparing moves nothing: a bare beat keeps the step alive without a transfer to show.
      if (last.total === 0) Context.current().heartbeat();
      else Context.current().heartbeat({ store: { phase, doneBytes: last.done, totalBytes: last.total, bytesPerSecond: Math.round(last.done / secs) } });
    } catch {
      /* not in an activity */
    }
  };
  const timer = setInterval(tick, 1000);
  return {
    progress: (done: number, total: number) => {
      last = { done, total };
    },
    stop: () => clearInterval(timer),
  };
}

async function claimInStore(mirror: CampaignMirror, input: CampaignInput): Promise<void> {
  if (!input.campaignRunId) return;
  const id = newIdentity(input.campaignId, input.config, input.campaignRunId);
  await mirror.store.putBytes(`${input.campaignId}/${IDENTITY_NAME}`, JSON.stringify(id, null, 2) + '\n', { ifAbsent: true });
}

async function runOnMirror(
  fn: (...a: unknown[]) => unknown,
  self: unknown,
  input: CampaignInput,
  rest: unknown[],
  role: string | undefined,
  name: string,
): Promise<unknown> {
  const { mirror, loc } = mirrorFor(input.config.artifacts);
  const cid = input.campaignId;
  const toLocal = (s: string) => (s.startsWith(storeUriPrefix(loc)) ? mirror.localPath(keyOf(s, loc)!) : s);
  const local = {
    ...mapStrings(input, toLocal),
    // Model URLs in the config (even under the campaign's own prefix) are fetched below, not mapped.
    config: { ...mapStrings(input.config, (v) => v), artifacts: { ...input.config.artifacts, root: mirror.root } },
  };
  let before;
  // The step's iteration and any other it names (an evaluation's baseline iteration): kept here while it runs.
  const iterations = [
    input.iteration,
    ...Object.entries(input)
      .filter(([k, v]) => /.Iteration$/.test(k) && typeof v === 'number')
      .map(([, v]) => v),
  ].filter((v): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0);
  const release = mirror.hold([...new Set(iterations)].map((i) => `${cid}/${iterFolder(i)}`));
  try {
    await claimInStore(mirror, input);
    const named = namedFiles(input, loc);
    const own: PullScope['prefixes'] = [{ prefix: `${cid}/`, skip: (f) => /\/iter-\d+\/$/.test(f) }];
    const shard = typeof input.shard === 'number' ? `shard-${String(input.shard).padStart(3, '0')}` : null;
    // A shard's activity reads and writes its own shard's files only.
    for (const i of new Set(iterations)) own.push({ prefix: `${cid}/${iterFolder(i)}/`, ...(shard ? { only: (k: string) => k.includes(`/${shard}`) } : {}) });
    const beat = transferBeat('download');
    try {
      await mirror.pull({ files: named, prefixes: own }, beat.progress);
      for (const [bucket, files] of checkpointFiles(
        mirror,
        named.map((n) => n.key),
      ))
        await bucketMirror(input.config.artifacts, bucket).pull({ files, prefixes: [] }, beat.progress);
      await materialiseModelUrls(local.config, input.config.artifacts, role, name, beat.progress);
    } finally {
      beat.stop();
    }
    before = mirror.snapshot([cid]);
  } catch (e) {
    release();
    throw toActivityFailure(e);
  }
  let result: unknown;
  let failure: unknown = null;
  try {
    result = await fn.call(self, local, ...rest);
  } catch (e) {
    failure = e;
  }
  try {
    // Pushed even when the step failed: what it paid for (judge replies, a trainer's own checkpoints) is kept.
    const beat = transferBeat('upload');
    let pushed;
    try {
      pushed = await mirror.push([cid], before, beat.progress);
    } finally {
      beat.stop();
    }
    if (typeof input.iteration === 'number') mirror.prune(cid, input.iteration - 2);
    if (!failure && pushed.conflicts.length) {
      const e = new Error(
        `another worker recorded ${pushed.conflicts[0]} first (with other content); this host now holds its output, and the retry returns it`,
      );
      e.name = 'StoreConflict';
      throw e;
    }
  } catch (e) {
    if (!failure) throw toActivityFailure(e);
  } finally {
    release();
  }
  if (failure) throw failure;
  return mapStrings(result, (s) => {
    const key = path.isAbsolute(s) ? keyOf(s, loc) : null;
    return key === null ? s : storeUri(loc, key);
  });
}

/** The same activities, each run on this host's mirror when its campaign's artifacts live in an object store. */
export function withArtifactStore<T extends object>(activities: T, role?: string): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    if (typeof fn !== 'function') {
      out[name] = fn;
      continue;
    }
    out[name] = (input: unknown, ...rest: unknown[]) =>
      storeBacked(input)
        ? runOnMirror(fn as (...a: unknown[]) => unknown, activities, input, rest, role, name)
        : (fn as (...a: unknown[]) => unknown).call(activities, input, ...rest);
  }
  return out as T;
}
