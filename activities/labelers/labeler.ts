/**
 * What a labeler kind declares and implements. Kinds labeled on the `alignloop-score` queue give a
 * ShardLabeler; the judge is labeled on its own queue by its own activities (online or Batch API).
 * Adding a kind: its settings and checks (a LabelerKind), its ShardLabeler, and one line in index.ts.
 */
import type { z } from 'zod';
import type { KindDefinition, KindSchema } from '../../config/kind';
import type { FileRef } from '../artifacts/store';
import type { ScoreShardResult } from '../types';

export interface LabelShardJob<S = unknown> {
  /** The campaign's `labeler` block (this kind's settings). */
  settings: S;
  artifactsRoot: string;
  campaignId: string;
  iteration: number;
  shard: number;
  /** The samples shard, verified against its hash. */
  samples: FileRef;
  /** The campaign folder's record of the model that labels (default labeler.json; eval.labeler has its own). */
  identityRecord?: string;
  /** Where the scored shard goes (written atomically; its completion record is written by the caller). */
  out: string;
  /** Variables the campaign names as credentials: a subprocess the labeler starts does not get them. */
  credentials?: string[];
  /** Where the settings block sits in the campaign file, for messages (default `labeler`). */
  setting?: string;
}

export interface LabeledShard {
  ref: FileRef;
  extra: Omit<ScoreShardResult, 'ref'>;
}

export interface ShardLabeler<S = unknown> {
  label(job: LabelShardJob<S>): Promise<LabeledShard>;
}

export type LabelerKind<T extends KindSchema = KindSchema> = KindDefinition<T> &
  ({ queue: 'score'; load(): Promise<ShardLabeler<z.output<T>>> } | { queue: 'judge' });
