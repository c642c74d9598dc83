/** Opens the artifact store a campaign's `artifacts` block names. */
import type { ArtifactStore } from './artifact-store';
import { LocalStore } from './local-store';
import { locationOf, type ArtifactsSettings } from '../../config/store-location';
import { S3Store } from './s3-store';

export function openStore(artifacts: ArtifactsSettings): ArtifactStore {
  const loc = locationOf(artifacts);
  return loc.kind === 'local' ? new LocalStore(loc.dir) : new S3Store(loc);
}

export type { ArtifactStore, StoredObject, Progress } from './artifact-store';
export { StoreIntegrityError } from './artifact-store';
export { isS3Root, locationOf, describeLocation } from '../../config/store-location';
