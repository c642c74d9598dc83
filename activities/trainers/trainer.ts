/** What a trainer kind implements. Adding a kind is a new file here and one line in index.ts. */
import type { CampaignConfig } from '../../config/schema';
import type { FileRef } from '../artifacts/store';
import type { TrainResult } from '../types';

export interface TrainJob {
  config: CampaignConfig;
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

export interface Trainer {
  /** The file name of a trained checkpoint inside the iteration's train/ folder. */
  checkpointName: string;
  /** Writes the campaign's initial policy to `file` (run once per campaign). */
  writeInitialPolicy(config: CampaignConfig, file: string): { path: string; sha256: string; bytes: number };
  train(job: TrainJob): Promise<TrainOutcome>;
}
