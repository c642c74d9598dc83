/**
 * Reading a store-backed campaign (`artifacts.root: s3://...`) from the CLI: its objects are pulled
 * into a local copy (the host cache's, or a fresh folder for `verify`, which must see the store as it
 * is), and the read-only commands run on that copy. Paths they print are shown as `s3://` URIs.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CampaignMirror } from '../activities/store/campaign-mirror';
import { checkpointFiles, hostStoreSettings } from '../activities/store/with-store';
import { keyOf, mapStrings, mirrorRoot, storeUri } from '../activities/store/mirror-paths';
import { S3Store } from '../activities/store/s3-store';
import { isS3Root, locationOf, type ArtifactsSettings, type StoreLocation } from '../config/store-location';
import { info } from './context';

type S3Location = Extract<StoreLocation, { kind: 's3' }>;

export interface LocalRoot {
  /** A folder holding `<id>/` as the commands expect. */
  root: string;
  /** A path of the local copy as the user should see it. */
  display: <T>(value: T) => T;
  /** The artifacts live in an object store; `root` holds a copy. */
  fromStore: boolean;
  /** Removes a fresh copy. */
  dispose: () => void;
}

export async function localRootOf(id: string, artifacts: ArtifactsSettings, opts: { fresh?: boolean } = {}): Promise<LocalRoot> {
  if (!isS3Root(artifacts.root)) return { root: artifacts.root, display: (v) => v, fromStore: false, dispose: () => undefined };
  const loc = locationOf(artifacts) as S3Location;
  const base = opts.fresh ? fs.mkdtempSync(path.join(os.tmpdir(), 'alignloop-verify-')) : hostStoreSettings().cacheDir;
  const store = new S3Store(loc);
  try {
    const mirror = new CampaignMirror(store, mirrorRoot(base, loc), Number.POSITIVE_INFINITY);
    if (opts.fresh) fs.rmSync(mirror.localPath(id), { recursive: true, force: true });
    let shown = 0;
    const n = await mirror.pull(
      { files: [], prefixes: [{ prefix: `${id}/` }] },
      (done, total) => {
        if (total > 64 * 1024 * 1024 && done - shown > 64 * 1024 * 1024) {
          shown = done;
          info(`reading ${storeUri(loc, id)}: ${(done / 1e6).toFixed(0)} of ${(total / 1e6).toFixed(0)} MB`);
        }
      },
      { unchecked: opts.fresh === true },
    );
    if (n > 0 && opts.fresh) info(`read ${n} objects of ${storeUri(loc, `${id}/`)} into ${mirror.root}`);
    // Checkpoint folders outside the campaign's prefix (an s3:// initial policy): what the descriptors name.
    const descriptors: string[] = [];
    for await (const o of store.list(`${id}/`)) if (/(^|\/)(checkpoint|policy)\.json$/.test(o.key)) descriptors.push(o.key);
    for (const [bucket, files] of checkpointFiles(mirror, descriptors)) {
      const other = new S3Store({ ...loc, bucket, prefix: '' });
      try {
        const outside = files.filter((f) => bucket !== loc.bucket || !f.key.startsWith(`${loc.prefix ? `${loc.prefix}/` : ''}${id}/`));
        await new CampaignMirror(other, mirrorRoot(base, { ...loc, bucket, prefix: '' }), Number.POSITIVE_INFINITY).pull(
          { files: outside.map((f) => ({ key: f.key })), prefixes: [] },
          undefined,
          { unchecked: opts.fresh === true },
        );
      } finally {
        other.destroy();
      }
    }
    const display = <T>(value: T): T =>
      mapStrings(value, (s) => {
        const key = path.isAbsolute(s) ? keyOf(s, loc) : null;
        return key === null ? s : storeUri(loc, key);
      });
    return { root: mirror.root, display, fromStore: true, dispose: () => opts.fresh && fs.rmSync(base, { recursive: true, force: true }) };
  } finally {
    store.destroy();
  }
}
