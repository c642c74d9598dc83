/**
 * A policy checkpoint as alignloop records it: a small descriptor file in the artifact store that
 * names a model folder (or file) by path and by the sha256 of a manifest of its files. Workflows
 * carry the descriptor's FileRef; samplers and trainers resolve it to a path, after checking the
 * folder still hashes to what was recorded (a checkpoint altered after it was accepted is refused).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ArtifactError, SamplerConfigError } from '../../config/errors';
import { describeChange, fingerprint } from '../artifacts/fingerprint';
import { FileRef, verifyRef } from '../artifacts/store';
import { onThisHost } from '../store/mirror-paths';

export const CHECKPOINT_FORMAT = 'alignloop-checkpoint/1';

export interface CheckpointDescriptor {
  format: typeof CHECKPOINT_FORMAT;
  name: string;
  /** Absolute path of the model folder or file. */
  path: string;
  /** sha256 over the sorted (file, sha256) list of `files`. */
  sha256: string;
  files: Record<string, string>;
  /** The descriptor sha256 of the checkpoint this one was trained from (null for the initial policy). */
  parent: string | null;
  iteration: number | null;
  [extra: string]: unknown;
}

export function describeCheckpoint(target: string, meta: { name: string; parent: string | null; iteration: number | null }): CheckpointDescriptor {
  const abs = path.resolve(target);
  if (!fs.existsSync(abs)) throw new SamplerConfigError(`policy.path: ${abs} does not exist; point it at the model folder (or file) to sample from`);
  const fp = fingerprint(abs);
  if (Object.keys(fp.files).length === 0) throw new SamplerConfigError(`policy.path: ${abs} is an empty folder; point it at a model folder`);
  return { format: CHECKPOINT_FORMAT, name: meta.name, path: abs, sha256: fp.sha256, files: fp.files, parent: meta.parent, iteration: meta.iteration };
}

export interface PolicyLocation {
  /** What `{{policy.path}}` becomes: the model folder or file. */
  path: string;
  name: string;
  /** The model's own identity (its files' manifest), or the checkpoint file's sha256. */
  sha256: string;
}

export function readDescriptor(ref: FileRef): CheckpointDescriptor | null {
  try {
    const d = JSON.parse(fs.readFileSync(ref.path, 'utf8')) as Partial<CheckpointDescriptor>;
    if (d.format !== CHECKPOINT_FORMAT) return null;
    // Written on another host of a store-backed campaign: the folder is in this host's mirror.
    return { ...d, path: onThisHost(d.path!, ref.path) } as CheckpointDescriptor;
  } catch {
    return null;
  }
}

/** The policy a checkpoint reference stands for, checked against what was recorded before anything uses it. */
export function resolvePolicy(ref: FileRef, what: string, fallbackName: string): PolicyLocation {
  verifyRef(ref, what);
  const d = readDescriptor(ref);
  if (!d) {
    let name = fallbackName;
    try {
      const p = JSON.parse(fs.readFileSync(ref.path, 'utf8')) as { name?: unknown };
      if (typeof p.name === 'string') name = p.name;
    } catch {
      /* not JSON: a model file */
    }
    return { path: ref.path, name, sha256: ref.sha256 };
  }
  if (!fs.existsSync(d.path)) throw new ArtifactError(`${what} ${d.path} is missing (recorded in ${ref.path}); restore the checkpoint folder, then resume`);
  const now = fingerprint(d.path);
  if (now.sha256 !== d.sha256) {
    throw new ArtifactError(
      `${what} ${d.path} changed since it was recorded (${describeChange(d, now)}); restore the recorded files, or start a new campaign from the changed model`,
    );
  }
  return { path: d.path, name: d.name, sha256: d.sha256 };
}
