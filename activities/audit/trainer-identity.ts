/**
 * How an iteration trained, for `alignloop audit`: the trainer kind, preset, method, beta, the
 * reference checkpoint and the feedback file(s) it consumed with their sha256, for every trainer
 * kind (the built-in trainer's checkpoint holds no trainer details, so they come from the settings
 * the manifest records). Pure.
 */
import type { CampaignConfig } from '../campaign/schema';
import type { FileRef } from '../artifacts/store';
import { placeholdersOf } from '../process/argv-template';

export interface TrainerSettings {
  kind: string;
  preset: string | null;
  method: string;
  beta: number | null;
  /** initial | previous: which checkpoint the reference is. */
  reference: string | null;
  /** The feedback file formats the trainer reads (jsonl, halos, trl). */
  consumes: string[];
}

const PRESET_FORMAT: Record<string, string> = { halos: 'halos', trl: 'trl', openrlhf: 'trl' };

/** What the manifest records about the trainer (settings.trainer). */
export function trainerSettings(t: CampaignConfig['trainer']): TrainerSettings {
  if (t.kind === 'builtin') return { kind: t.kind, preset: null, method: t.method, beta: t.beta, reference: t.reference, consumes: ['jsonl'] };
  if (t.kind === 'none') return { kind: t.kind, preset: null, method: t.method, beta: null, reference: null, consumes: [] };
  const consumes =
    t.preset === 'custom'
      ? placeholdersOf([...(t.command ?? []), ...t.extraArgs])
          .filter((p) => p.startsWith('feedback.'))
          .map((p) => p.slice('feedback.'.length))
          .sort()
      : [PRESET_FORMAT[t.preset]];
  return { kind: t.kind, preset: t.preset, method: t.method, beta: t.beta, reference: t.reference, consumes };
}

export interface TrainerIdentity extends Omit<TrainerSettings, 'consumes'> {
  reference_checkpoint: { path: string; sha256: string } | null;
  feedback_files: { format: string; path: string; sha256: string }[];
  /** A command trainer's argv and preset version, as its checkpoint descriptor records them. */
  command: unknown;
}

/**
 * The identity of the training run of one iteration. `settings` is the manifest's settings.trainer
 * (absent in manifests written before it was recorded: then kind and method come from the checkpoint
 * descriptor where it has them, and are null otherwise).
 */
export function trainerIdentity(
  settings: TrainerSettings | undefined,
  reference: FileRef | null | undefined,
  feedback: Record<string, FileRef | undefined> | null | undefined,
  descriptorTrainer: { preset?: string } | null,
): TrainerIdentity {
  const s: TrainerSettings = settings ?? {
    kind: descriptorTrainer ? 'command' : (null as unknown as string),
    preset: descriptorTrainer?.preset ?? null,
    method: null as unknown as string,
    beta: null,
    reference: null,
    consumes: descriptorTrainer?.preset ? [PRESET_FORMAT[descriptorTrainer.preset]].filter(Boolean) : [],
  };
  const { consumes, ...rest } = s;
  return {
    ...rest,
    reference_checkpoint: reference && s.kind !== 'none' ? { path: reference.path, sha256: reference.sha256 } : null,
    feedback_files: consumes.flatMap((format) => {
      const ref = feedback?.[format];
      return ref ? [{ format, path: ref.path, sha256: ref.sha256 }] : [];
    }),
    command: descriptorTrainer ?? null,
  };
}
