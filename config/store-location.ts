/**
 * Where a campaign's artifacts live: a local folder (the default) or an S3-compatible bucket and
 * prefix (`s3://bucket/prefix`). Keys inside a store are relative, `/`-separated and never climb out
 * of it, so a key recorded on one host names the same object on every other. Pure.
 */
export type StoreLocation =
  { kind: 'local'; dir: string } | { kind: 's3'; bucket: string; prefix: string; endpoint?: string; region?: string; forcePathStyle?: boolean };

export interface ArtifactsSettings {
  root: string;
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
}

/** S3 bucket names (the rules AWS states; S3-compatible servers accept a superset). */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export const isS3Root = (root: string): boolean => /^s3:\/\//i.test(root);

/** What is wrong with an `s3://` root, or null. */
export function s3RootProblem(root: string): string | null {
  const m = /^s3:\/\/([^/]*)(\/.*)?$/i.exec(root);
  if (!m) return `${JSON.stringify(root)} is not an s3:// URL; write s3://BUCKET/PREFIX`;
  if (!BUCKET.test(m[1]))
    return `bucket ${JSON.stringify(m[1])} is not a valid bucket name (3-63 lower-case letters, digits, "." or "-"); write s3://BUCKET/PREFIX`;
  const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix && keyProblem(prefix)) return `prefix ${JSON.stringify(prefix)}: ${keyProblem(prefix)}`;
  return null;
}

export function locationOf(a: ArtifactsSettings): StoreLocation {
  if (!isS3Root(a.root)) return { kind: 'local', dir: a.root };
  const problem = s3RootProblem(a.root);
  if (problem) throw new Error(`artifacts.root: ${problem}`);
  const m = /^s3:\/\/([^/]+)(\/.*)?$/i.exec(a.root)!;
  return {
    kind: 's3',
    bucket: m[1],
    prefix: (m[2] ?? '').replace(/^\/+|\/+$/g, ''),
    ...(a.endpoint !== undefined ? { endpoint: a.endpoint } : {}),
    ...(a.region !== undefined ? { region: a.region } : {}),
    ...(a.forcePathStyle !== undefined ? { forcePathStyle: a.forcePathStyle } : {}),
  };
}

/** What is wrong with a store key, or null: relative, `/`-separated, no empty, `.` or `..` segments, no control characters. */
export function keyProblem(key: string): string | null {
  if (key.length === 0) return 'a key must not be empty';
  if (key.length > 900) return 'a key must be at most 900 characters (S3 allows 1,024 bytes with the prefix)';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(key)) return 'a key must not hold control characters or backslashes';
  if (key.startsWith('/')) return 'a key is relative to the store: it must not start with "/"';
  for (const seg of key.split('/')) {
    if (seg === '' || seg === '.' || seg === '..') return `a key must not hold an empty, "." or ".." segment (${JSON.stringify(key)})`;
  }
  return null;
}

export function checkKey(key: string): string {
  const p = keyProblem(key);
  if (p) throw new Error(`store key ${JSON.stringify(key)}: ${p}`);
  return key;
}

/** The object name of a key under the prefix. */
export const objectName = (prefix: string, key: string): string => (prefix ? `${prefix}/${checkKey(key)}` : checkKey(key));

/** How a location is named in messages (never with credentials: they are not part of it). */
export function describeLocation(l: StoreLocation): string {
  if (l.kind === 'local') return l.dir;
  return `s3://${l.bucket}${l.prefix ? `/${l.prefix}` : ''}${l.endpoint ? ` at ${l.endpoint}` : ''}`;
}
