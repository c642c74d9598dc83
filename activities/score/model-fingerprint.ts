/**
 * A reward model's identity: the sha256 of every file in its folder. The first fingerprint a campaign
 * sees is recorded in <campaign>/labeler.json; a later shard scored with a different model is
 * refused (or, with labeler.allowModelChange, recorded there as a new labeler version).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ArtifactError, ModelFolderError } from '../../config/errors';
import { writeJsonAtomic } from '../artifacts/atomic-file';
import { describeChange, fileSha, Fingerprint, fingerprint, withSha } from '../artifacts/fingerprint';

export type ModelFingerprint = Fingerprint;

/** A file that a labeler setting names, when it lies outside the model folder. */
function outside(dir: string, file: string): boolean {
  const rel = path.relative(path.resolve(dir), path.resolve(file));
  return rel.startsWith('..') || path.isAbsolute(rel);
}

/**
 * Everything that decides a reward model's rewards: every file of its folder (through symbolic links,
 * as in a Hugging Face hub snapshot), and labeler.modelFile (with its external data beside it) and a
 * labeler.chatTemplate .jinja file where they lie outside the folder (keyed by absolute path). A folder
 * with no file at all is refused: its fingerprint would be every empty folder's.
 */
export function modelFingerprint(modelDir: string, opts: { modelFile?: string; chatTemplate?: string } = {}): ModelFingerprint {
  const fp = fingerprint(modelDir);
  const files = { ...fp.files };
  const links = { ...fp.links };
  const add = (file: string) => {
    const abs = path.resolve(file);
    files[abs] = fileSha(fs.realpathSync(abs));
    if (fs.lstatSync(abs).isSymbolicLink()) links[abs] = fs.readlinkSync(abs);
  };
  if (opts.modelFile) {
    const model = path.resolve(modelDir, opts.modelFile);
    if (outside(modelDir, model) && fs.existsSync(model)) {
      add(model);
      // ONNX external data (model.onnx_data, model.onnx.data) sits beside the graph.
      const base = path.basename(model);
      for (const f of fs.readdirSync(path.dirname(model)).sort()) if (f !== base && f.startsWith(base)) add(path.join(path.dirname(model), f));
    }
  }
  const t = opts.chatTemplate;
  if (t && t !== 'default' && (t.includes('/') || t.endsWith('.jinja')) && outside(modelDir, t) && fs.existsSync(t)) add(t);
  if (Object.keys(files).length === 0) {
    throw new ModelFolderError(
      `${modelDir}: no files to fingerprint (an empty folder, or only links to nothing); point labeler.model at the exported model folder`,
    );
  }
  return withSha(files, Object.keys(links).length ? links : undefined);
}

interface LabelerRecord {
  versions: (ModelFingerprint & { firstIteration: number; dir?: string })[];
}

/**
 * Checks `fp` against the campaign's recorded labeler (recording it the first time). Returns the
 * version number the shard is labeled with (1 for the campaign's first model).
 */
export function checkLabelerIdentity(recordFile: string, modelDir: string, fp: ModelFingerprint, iteration: number, allowChange: boolean): number {
  let rec: LabelerRecord = { versions: [] };
  if (fs.existsSync(recordFile)) rec = JSON.parse(fs.readFileSync(recordFile, 'utf8')) as LabelerRecord;
  // Versions before symbolic links were followed recorded an all-link folder (a hub snapshot) as no
  // files at all: such a record proves nothing, so the model in use now replaces it.
  rec.versions = rec.versions.filter((v) => Object.keys(v.files).length > 0);
  const known = rec.versions.findIndex((v) => v.sha256 === fp.sha256);
  if (known >= 0) return known + 1;
  if (rec.versions.length > 0 && !allowChange) {
    const first = rec.versions[rec.versions.length - 1];
    throw new ArtifactError(
      `the reward model in ${modelDir} changed since this campaign recorded it (${describeChange(first, fp)}); restore the recorded files, ` +
        'or start the campaign with labeler.allowModelChange: true to record a changed model as a new labeler version',
    );
  }
  // The folder too, so `alignloop verify` can re-hash the model the campaign labels with.
  rec.versions.push({ ...fp, firstIteration: iteration, dir: path.resolve(modelDir) });
  writeJsonAtomic(recordFile, rec);
  return rec.versions.length;
}
