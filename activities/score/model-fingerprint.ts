/**
 * A reward model's identity: the sha256 of every file in its folder. The first fingerprint a campaign
 * sees is recorded in <campaign>/labeler.json; a later shard scored with a different model is
 * refused (or, with labeler.allowModelChange, recorded there as a new labeler version).
 */
import * as fs from 'node:fs';
import { ArtifactError } from '../../config/errors';
import { writeJsonAtomic } from '../artifacts/atomic-file';
import { describeChange, Fingerprint } from '../artifacts/fingerprint';

export type ModelFingerprint = Fingerprint;
export { fingerprint as modelFingerprint } from '../artifacts/fingerprint';

interface LabelerRecord {
  versions: (ModelFingerprint & { firstIteration: number })[];
}

/**
 * Checks `fp` against the campaign's recorded labeler (recording it the first time). Returns the
 * version number the shard is labeled with (1 for the campaign's first model).
 */
export function checkLabelerIdentity(recordFile: string, modelDir: string, fp: ModelFingerprint, iteration: number, allowChange: boolean): number {
  let rec: LabelerRecord = { versions: [] };
  if (fs.existsSync(recordFile)) rec = JSON.parse(fs.readFileSync(recordFile, 'utf8')) as LabelerRecord;
  const known = rec.versions.findIndex((v) => v.sha256 === fp.sha256);
  if (known >= 0) return known + 1;
  if (rec.versions.length > 0 && !allowChange) {
    const first = rec.versions[rec.versions.length - 1];
    throw new ArtifactError(
      `the reward model in ${modelDir} changed since this campaign recorded it (${describeChange(first, fp)}); restore the recorded files, ` +
        'or start the campaign with labeler.allowModelChange: true to record a changed model as a new labeler version',
    );
  }
  rec.versions.push({ ...fp, firstIteration: iteration });
  writeJsonAtomic(recordFile, rec);
  return rec.versions.length;
}
