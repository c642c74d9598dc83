/** What a sampler kind implements. Adding a kind is a new file here and one line in index.ts. */
import type { CampaignConfig } from '../../config/schema';
import type { FileRef } from '../artifacts/store';
import type { PromptRecord } from '../prompts';
import type { Turn } from '../feedback/scored-samples';

/** One line of a samples shard. */
export interface SampleRecord {
  prompt_id: string;
  sample_id: number;
  prompt: Turn[];
  output: string;
  iteration: number;
  generator: string;
  [extra: string]: unknown;
}

export interface SampleJob {
  config: CampaignConfig;
  campaignId: string;
  iteration: number;
  shard: number;
  prompts: PromptRecord[];
  /** The prompt shard file (JSONL of {prompt_id, prompt, …}), for samplers that hand it to a command. */
  promptsRef: FileRef;
  /** The policy checkpoint this iteration samples from (verified before the sampler runs). */
  policy: FileRef;
  /** Aborted when Temporal cancels the attempt (a subprocess must then be stopped). */
  signal?: AbortSignal;
  progress(p: { promptsDone: number; prompts: number; note?: string }): void;
}

export interface SampleOutcome {
  records: SampleRecord[];
  promptsSampled: number;
  /** Prompts not sampled, by reason; they are counted in the manifest so counts add up. */
  skipped: Record<string, number>;
  /** Samples asked for but not received, by reason (server_error, timeout, empty_output, …). */
  samplesFailed?: Record<string, number>;
  /** Samples received but left out, by reason (truncated). */
  samplesDropped?: Record<string, number>;
  /** Requests sent, and samples read back from the cache instead. */
  requests?: number;
  cacheHits?: number;
  /** managed: the server's log, and the queue of the worker process that runs it (the iteration asks it to stop the server). */
  serverLog?: string;
  serverQueue?: string;
}

export interface Sampler {
  sample(job: SampleJob): Promise<SampleOutcome>;
}
