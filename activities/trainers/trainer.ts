/**
 * What a trainer kind declares and implements. Adding a kind: its settings and checks (a TrainerKind)
 * in `<kind>/config.ts`, its Trainer in `<kind>/trainer.ts`, and one line in index.ts.
 */
import type { z } from 'zod';
import type { CampaignView, KindDefinition, KindSchema } from '../../config/kind';
import type { FileRef } from '../artifacts/store';
import type { TrainResult } from '../types';

export interface TrainJob<S = unknown> {
  /** The campaign's `trainer` block (this kind's settings). */
  settings: S;
  /** The rest of the campaign, for what training depends on elsewhere (the sampler's temperature, its model). */
  campaign: CampaignView;
  artifactsRoot: string;
  campaignId: string;
  iteration: number;
  /** The iteration's train/ folder: progress files and the checkpoint go here. */
  dir: string;
  /** Where the trained checkpoint is written (the completion manifest sits beside it). */
  checkpointFile: string;
  /** The feedback file (native JSONL), or null when feedback came out empty. */
  feedback: FileRef | null;
  emptyReason: string | null;
  policy: FileRef;
  reference: FileRef;
  /** The iteration's prompt shards. */
  prompts: FileRef[];
}

export interface TrainOutcome {
  written: { path: string; sha256: string; bytes: number };
  extra: Omit<TrainResult, 'checkpoint'>;
}

export interface Trainer<S = unknown> {
  /** The file name of a trained checkpoint inside the iteration's train/ folder. */
  checkpointName: string;
  /** Writes the campaign's initial policy to `file` (run once per campaign). */
  writeInitialPolicy(settings: S, campaign: CampaignView, file: string): { path: string; sha256: string; bytes: number };
  train(job: TrainJob<S>): Promise<TrainOutcome>;
  /** After the step's completion record is written (and on a retry that finds it): what may only happen then, e.g. pruning older checkpoints. */
  afterRecorded?(job: TrainJob<S>): void;
}

export interface TrainerKind<T extends KindSchema = KindSchema> extends KindDefinition<T> {
  /** The implementation, loaded when a step trains (validation loads none). */
  load(): Promise<Trainer<z.output<T>>>;
}
