/**
 * What a sampler kind declares and implements. Adding a kind: its settings and checks (a SamplerKind)
 * in `<kind>/config.ts`, its Sampler in `<kind>/sampler.ts`, and one line in index.ts.
 */
import type { z } from 'zod';
import type { KindDefinition, KindSchema } from '../../config/kind';
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

export interface SampleJob<S = unknown> {
  /** The campaign's `sampler` block (this kind's settings). */
  settings: S;
  /** The variables the campaign names as credentials, withheld from the subprocesses a sampler starts (see process/child-env.ts). */
  credentialEnv?: string[];
  artifactsRoot: string;
  campaignId: string;
  iteration: number;
  shard: number;
  prompts: PromptRecord[];
  /** The prompt shard file (JSONL of {prompt_id, prompt, …}), for samplers that hand it to a command. */
  promptsRef: FileRef;
  /** The policy checkpoint this iteration samples from (verified before the sampler runs). */
  policy: FileRef;
  /** Held-out prompts (eval:): draws fixed by this seed whatever the iteration, the most likely answer when greedy. */
  evaluation?: { seed: number; greedy: boolean };
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
  /** The samples dropped as truncated, kept for audit (written beside the shard, never labeled). */
  truncatedRecords?: SampleRecord[];
  /** Requests sent, and samples read back from the cache instead. */
  requests?: number;
  cacheHits?: number;
  /** managed: the server's log, and the queue of the worker process that runs it (the iteration asks it to stop the server). */
  serverLog?: string;
  serverQueue?: string;
}

export interface Sampler<S = unknown> {
  sample(job: SampleJob<S>): Promise<SampleOutcome>;
}

export interface SamplerKind<T extends KindSchema = KindSchema> extends KindDefinition<T> {
  /** The implementation, loaded when a shard is sampled (validation loads none). */
  load(): Promise<Sampler<z.output<T>>>;
}
