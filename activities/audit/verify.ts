/**
 * `alignloop verify`: re-hash every artifact of every iteration against the records that name it:
 * completion records (`<file>.done.json`), iteration manifests (the prompts file included), checkpoint
 * descriptors (every file of a checkpoint folder, wherever it lies), and the reward model the campaign
 * labels with (`labeler.json`). Reports what is missing, what changed, and what is there that no
 * record names (working state such as caches, limiter files, logs and attempt folders excepted), in
 * the campaign folder and in every checkpoint and reward-model folder. Symbolic links are followed,
 * as fingerprints follow them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sha256File } from '../artifacts/atomic-file';
import { IDENTITY_NAME } from '../artifacts/campaign-identity';
import { CHECKPOINT_FORMAT, CheckpointDescriptor } from '../policy/checkpoint-ref';
import { onThisHost } from '../store/mirror-paths';
import { PRUNED_NAME, prunedFolder } from '../trainers/retention';
import { EVAL_LABELER_RECORD } from '../eval/summary';

export interface Finding {
  path: string;
  /** The record that names it. */
  recordedIn: string;
  detail: string;
}

export interface VerifyReport {
  campaignDir: string;
  iterations: number;
  filesChecked: number;
  missing: Finding[];
  changed: Finding[];
  unexpected: string[];
  /** Checkpoint folders deleted on purpose (trainer.keepCheckpoints), per their records. */
  pruned: string[];
  ok: boolean;
}

/** Working state that no record names by design (relative to the campaign folder). */
const WORKING_STATE = [
  /^(sample-cache|sample-limiter|judge-cache|judge-limiter|judge-budget|reward-cache|reward-limiter|processes)\//,
  /^(eval-)?labeler\.json$/,
  /\.log$/,
  /\.progress$/,
  /^iter-\d+\/samples\/(server|command)\//,
  /^iter-\d+\/train\/(progress\.json|attempts\/)/,
  /^iter-\d+\/judge-batches\//,
  /\.tmp-[^/]*$/,
];

const DESCRIPTOR_NAMES = new Set(['checkpoint.json', 'policy.json']);

/** Every file below dir, through symbolic links (a dangling link is listed too: it is there). */
function walk(dir: string, out: string[] = [], onPath = new Set<string>()): string[] {
  if (!fs.existsSync(dir)) return out;
  const real = fs.realpathSync(dir);
  if (onPath.has(real)) return out;
  onPath.add(real);
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    let isDir = e.isDirectory();
    if (e.isSymbolicLink()) {
      try {
        isDir = fs.statSync(p).isDirectory();
      } catch {
        isDir = false;
      }
    }
    if (isDir) walk(p, out, onPath);
    else if (e.isFile() || e.isSymbolicLink()) out.push(p);
  }
  onPath.delete(real);
  return out;
}

/** The reward model a campaign labels with: the last version its labeler record holds, with its folder. */
function labelerVersion(campaignDir: string, name = 'labeler.json'): { record: string; dir: string; files: Record<string, string> } | null {
  const record = path.join(campaignDir, name);
  try {
    const versions = (JSON.parse(fs.readFileSync(record, 'utf8')) as { versions?: { dir?: string; files?: Record<string, string> }[] }).versions ?? [];
    const last = versions[versions.length - 1];
    return last && typeof last.dir === 'string' && last.files ? { record, dir: last.dir, files: last.files } : null;
  } catch {
    return null;
  }
}

interface Ref {
  path: string;
  sha256: string;
}

const isRef = (v: unknown): v is Ref => !!v && typeof (v as Ref).path === 'string' && typeof (v as Ref).sha256 === 'string';

export interface VerifyOptions {
  /**
   * The campaign's artifacts are an object store's, pulled into `dir`: models outside the store (the
   * reward model's folder on the score hosts) are checked only where this host has them.
   */
  pulledFromStore?: boolean;
}

export function verifyCampaign(dir: string, opts: VerifyOptions = {}): VerifyReport {
  // Records hold absolute paths: compare them with an absolute folder, however it was named.
  const campaignDir = path.resolve(dir);
  // Paths another host recorded (store-backed campaigns) name the same files in this copy.
  const here = (p: string) => onThisHost(p, campaignDir);
  const report: VerifyReport = { campaignDir, iterations: 0, filesChecked: 0, missing: [], changed: [], unexpected: [], pruned: [], ok: true };
  const all = walk(campaignDir);
  const named = new Set<string>();
  const checked = new Map<string, string | null>(); // path -> sha256 (null: missing)
  const shaOf = (p: string): string | null => {
    if (!checked.has(p)) checked.set(p, fs.existsSync(p) && fs.statSync(p).isFile() ? sha256File(p) : null);
    return checked.get(p)!;
  };
  const seen = new Set<string>();
  const check = (p: string, sha: string, recordedIn: string) => {
    named.add(p);
    const key = `${p}\u0000${sha}`;
    if (seen.has(key)) return;
    seen.add(key);
    const now = shaOf(p);
    if (now === null) report.missing.push({ path: p, recordedIn, detail: `recorded with sha256 ${sha.slice(0, 12)}` });
    else if (now !== sha) report.changed.push({ path: p, recordedIn, detail: `sha256 ${now.slice(0, 12)}, recorded ${sha.slice(0, 12)}` });
  };
  const readJson = (p: string): unknown => {
    try {
      return JSON.parse(fs.readFileSync(p, 'utf8'));
    } catch {
      return undefined;
    }
  };

  /**
   * Every file a folder record lists (relative keys; absolute ones for files outside the folder), and
   * nothing else in the folder (a checkpoint folder wherever it lies, the reward model's folder).
   */
  const checkFolder = (target: string, single: boolean, files: Record<string, string>, recordedIn: string) => {
    for (const [f, sha] of Object.entries(files)) {
      if (sha.startsWith('dangling-link:')) continue; // recorded as a link to nothing; the walk below still lists it
      check(single ? target : path.isAbsolute(f) ? f : path.join(target, f), sha, recordedIn);
    }
    if (single) return;
    for (const f of walk(target)) {
      const listed = named.has(f) || Object.prototype.hasOwnProperty.call(files, path.relative(target, f));
      if (!listed) report.unexpected.push(f);
      named.add(f);
    }
  };

  for (const file of all) {
    const rel = path.relative(campaignDir, file);
    if (file.endsWith('.done.json')) {
      named.add(file);
      const rec = readJson(file) as { ref?: unknown } | undefined;
      if (!rec || !isRef(rec.ref)) report.changed.push({ path: file, recordedIn: file, detail: 'completion record is not valid JSON with a ref' });
      else check(here(rec.ref.path), rec.ref.sha256, file);
    }
    if (/^iter-\d+\/manifest\.json$/.test(rel)) {
      report.iterations++;
      const m = readJson(file) as { artifacts?: Record<string, unknown>; lineage?: Record<string, unknown> } | undefined;
      if (!m) continue; // its completion record reports the change
      const refs: Ref[] = [];
      for (const v of Object.values(m.artifacts ?? {})) {
        if (Array.isArray(v)) refs.push(...v.filter(isRef));
        else if (isRef(v)) refs.push(v);
        else if (v && typeof v === 'object') refs.push(...Object.values(v).filter(isRef));
      }
      for (const k of ['prompts_file', 'policy_in', 'reference', 'checkpoint_out']) if (isRef(m.lineage?.[k])) refs.push(m.lineage![k] as Ref);
      for (const r of refs) check(here(r.path), r.sha256, file);
    }
  }
  // Checkpoint folders: every file the descriptor lists, and nothing else inside folders alignloop owns.
  // Descriptors are the trainers' checkpoint files (never a feedback file, which can be hundreds of MB).
  // Folders deleted on purpose (trainer.keepCheckpoints): their records say so.
  const pruned = new Set<string>();
  for (const file of all.filter((f) => path.basename(f) === PRUNED_NAME)) {
    const folder = prunedFolder(file);
    if (folder === null) report.changed.push({ path: file, recordedIn: file, detail: 'not a valid pruned-checkpoint record' });
    else pruned.add(here(folder));
    named.add(file);
  }
  report.pruned = [...pruned].sort();
  for (const file of all.filter((f) => DESCRIPTOR_NAMES.has(path.basename(f)))) {
    const d = readJson(file) as Partial<CheckpointDescriptor> | undefined;
    if (!d || d.format !== CHECKPOINT_FORMAT || typeof d.path !== 'string' || !d.files) continue;
    const target = here(d.path);
    if (pruned.has(target) && !fs.existsSync(target)) continue;
    const single = fs.existsSync(target) && fs.statSync(target).isFile();
    checkFolder(target, single, d.files, file);
  }
  // The reward model: a file swapped or dropped into its folder changes every reward from then on.
  const labeler = labelerVersion(campaignDir);
  if (labeler && !(opts.pulledFromStore && !fs.existsSync(labeler.dir))) checkFolder(labeler.dir, false, labeler.files, labeler.record);
  // eval.labeler: the reward model that scores the eval answers, recorded apart from the campaign's.
  const evalLabeler = labelerVersion(campaignDir, EVAL_LABELER_RECORD);
  if (evalLabeler && !(opts.pulledFromStore && !fs.existsSync(evalLabeler.dir))) checkFolder(evalLabeler.dir, false, evalLabeler.files, evalLabeler.record);
  const identity = path.join(campaignDir, IDENTITY_NAME);
  if (fs.existsSync(identity)) {
    named.add(identity);
    const id = readJson(identity) as { firstRunId?: unknown } | undefined;
    if (typeof id?.firstRunId !== 'string')
      report.changed.push({ path: identity, recordedIn: identity, detail: 'campaign identity record is not valid JSON with a first run id' });
  }
  for (const file of all) {
    if (named.has(file)) continue;
    const rel = path.relative(campaignDir, file);
    if (WORKING_STATE.some((re) => re.test(rel))) continue;
    report.unexpected.push(file);
  }
  report.filesChecked = checked.size;
  report.unexpected = [...new Set(report.unexpected)].sort();
  report.ok = report.missing.length === 0 && report.changed.length === 0 && report.unexpected.length === 0;
  return report;
}
