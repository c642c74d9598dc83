/** Types shared by workflows (type-only imports) and activities. */
import type { CampaignConfig } from './campaign/schema';
import type { FeedbackStats } from './feedback/build';
import type { FileRef } from './artifacts/store';
import type { SampleOutcome } from './samplers/sampler';
import type { EvalSummary } from './eval/summary';

export type { CampaignConfig, FeedbackStats, FileRef };

export interface IterationScope {
  campaignId: string;
  iteration: number;
  config: CampaignConfig;
  /** The campaign workflow's first run id: whose campaign folder it is (absent in histories of earlier versions). */
  campaignRunId?: string;
}

/**
 * The checkpoint a samples shard was sampled from, recorded at dispatch when iterations overlap
 * (schedule.maxPolicyLag > 0). Its version counts trained iterations: the initial policy is 0, the
 * checkpoint iteration i trains from is i.
 */
export interface SampledFrom {
  checkpoint: string;
  sha256: string;
  version: number;
}

export interface PreparedPrompts {
  shards: FileRef[];
  promptsFileSha256: string;
  promptsIn: number;
}

/** A samples shard and the sampler's counts (prompts skipped, samples failed or dropped, by reason). */
export type SampleShardResult = {
  ref: FileRef;
  promptsIn: number;
  /** The samples cut at maxTokens and dropped from the shard, when any: samples-truncated/shard-NNN.jsonl. */
  truncatedSamples?: FileRef;
  /** Iterations that overlap only (schedule.maxPolicyLag > 0): the checkpoint this shard was sampled from. */
  sampledFrom?: SampledFrom;
} & Omit<SampleOutcome, 'records' | 'truncatedRecords'>;

export interface ScoreShardResult {
  ref: FileRef;
  samples: number;
  labelled: number;
  unlabelled: Record<string, number>;
  truncated: number;
  batchesResumed: number;
  /** Pairwise judge only: the shard's pairs and how they were decided. */
  pairs?: {
    pairs: number;
    decided: number;
    ties: number;
    inconsistent: number;
    prompts_too_few: number;
    unpaired_odd: number;
    lengths: Record<string, number | null>;
  };
  /** Reward-model labeling only: the model's fingerprint and the campaign's labeler version it is. */
  model?: { sha256: string; files: Record<string, string>; version: number };
  /** Judge labeling only. */
  cost?: {
    usd: number;
    paidCalls: number;
    /** Paid calls that produced no label, calls whose cost is an upper-bound estimate (no usage), attempts that may have paid twice. */
    paidUnlabelled?: number;
    estimatedCalls?: number;
    paidRetries?: number;
    cacheHits: number;
    rateLimited: number;
    promptTokens: number;
    completionTokens: number;
    templateSha256: string;
  };
  /** Verifier labeling only: the program (argv as written, sha256 of the files it names) and its pass/fail counts. */
  verifier?: { argv: string[]; files: Record<string, string>; passed: number; failed: number };
  /** Judge labeling only, when any: samples holding the judge template's own delimiters (neutralised). */
  judgeDelimiterSamples?: number;
}

export interface FeedbackResult {
  files: { jsonl: FileRef; halos: FileRef; trl: FileRef } | null;
  stats: FeedbackStats;
}

export interface TrainResult {
  checkpoint: FileRef;
  trained: boolean;
  examples: number;
  firstLoss: number | null;
  lastLoss: number | null;
  resumedFromEpoch: number;
  skippedReason: string | null;
  /** trainer.kind: command: the trainer's intermediate checkpoint this attempt resumed from. */
  resumedFrom?: string | null;
}

/** One row of `alignloop history`: small, so the campaign state stays small. */
export interface IterationSummary {
  iteration: number;
  prompts: number;
  samples: number;
  labelled: number;
  examples: number;
  rewardMean: number | null;
  checkpoint: string;
  checkpointSha256: string;
  manifest: string;
  wallSeconds: number;
  emptyReason: string | null;
  costUsd: number;
  /** Iterations that overlap only: how many versions its samples' checkpoints were behind the one it trained from. */
  policyLag?: { min: number; max: number };
  /** eval: this iteration's evaluation (absent when it was not evaluated). */
  eval?: EvalSummary;
}
