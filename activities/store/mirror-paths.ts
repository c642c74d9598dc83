/**
 * Where a worker host keeps its working copy (mirror) of a store-backed campaign, and how recorded
 * paths travel between hosts. Activities work on local files under the host's mirror root
 * (`<cache dir>/alignloop-mirror/<bucket>/<prefix>/`); workflow histories carry `s3://bucket/prefix/key`
 * instead, and a path another host recorded inside an artifact is found again by the marker folder.
 * Pure.
 */
import * as path from 'node:path';
import type { StoreLocation } from '../../config/store-location';

type S3Location = Extract<StoreLocation, { kind: 's3' }>;

export const MIRROR_MARK = 'alignloop-mirror';

export function mirrorRoot(cacheDir: string, loc: S3Location): string {
  return path.join(path.resolve(cacheDir), MIRROR_MARK, loc.bucket, ...(loc.prefix ? loc.prefix.split('/') : []));
}

export function storeUri(loc: S3Location, key: string): string {
  return `s3://${loc.bucket}/${loc.prefix ? `${loc.prefix}/` : ''}${key}`;
}

/** The store of a location, as the URI prefix its keys carry. */
export const storeUriPrefix = (loc: S3Location): string => storeUri(loc, '');

/** `<bucket>/<prefix>/<key>` of a path under any host's mirror root, else null. */
export function mirrorTail(p: string): string | null {
  const mark = `${path.sep}${MIRROR_MARK}${path.sep}`;
  const i = p.lastIndexOf(mark);
  return i < 0
    ? null
    : p
        .slice(i + mark.length)
        .split(path.sep)
        .join('/');
}

/** The key inside the store of a recorded path: an `s3://` URI of this store or a path under any host's mirror of it. */
export function keyOf(p: string, loc: S3Location): string | null {
  const uri = storeUriPrefix(loc);
  if (p.startsWith(uri)) return p.slice(uri.length) || null;
  const tail = mirrorTail(p);
  const head = `${loc.bucket}/${loc.prefix ? `${loc.prefix}/` : ''}`;
  return tail !== null && tail.startsWith(head) ? tail.slice(head.length) || null : null;
}

/** This host's path of a recorded path (unchanged when it names nothing in the store). */
export function localPathOf(p: string, loc: S3Location, root: string): string {
  const key = keyOf(p, loc);
  return key === null ? p : path.join(root, ...key.split('/'));
}

/**
 * Do a recorded path and a local path name the same artifact? The same path, or (store-backed
 * campaigns) the same place under two hosts' mirrors.
 */
export function samePlace(recorded: string, local: string): boolean {
  if (recorded === local) return true;
  const a = mirrorTail(recorded);
  return a !== null && a === mirrorTail(local);
}

/** A path another host recorded, as it is on this host, given a local path under this host's mirror. */
export function onThisHost(recorded: string, localSibling: string): string {
  const tail = mirrorTail(recorded);
  const mark = `${path.sep}${MIRROR_MARK}${path.sep}`;
  const i = localSibling.lastIndexOf(mark);
  if (tail === null || i < 0) return recorded;
  return localSibling.slice(0, i + mark.length) + tail.split('/').join(path.sep);
}

/** Every string in a JSON-like value mapped through fn (objects and arrays copied; other values kept). */
export function mapStrings<T>(value: T, fn: (s: string) => string): T {
  if (typeof value === 'string') return fn(value) as T;
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, fn)) as T;
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, mapStrings(v, fn)])) as T;
  }
  return value;
}
