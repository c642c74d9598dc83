/**
 * What a sampler, labeler or trainer kind declares about its settings block: the schema, where its
 * relative paths resolve, and the problems only it can see (files, placeholders, combinations with
 * the rest of the campaign). The roles' registries (activities/samplers, labelers, trainers) hold one
 * per kind; loading and validation here stay generic.
 */
import type { z } from 'zod';
import { ConfigError } from './errors';

export interface Problem {
  path: (string | number)[];
  message: string;
}

/** What a kind's checks may read of the rest of the campaign (the whole file, already shaped by zod). */
export interface CampaignView {
  iterations: number;
  prompts: { path: string; perIteration: number; reuse: boolean };
  policy?: { path: string; name: string };
  sampler: { kind: string; samplesPerPrompt: number } & Record<string, unknown>;
  labeler: { kind: string } & Record<string, unknown>;
  feedback: { type: 'pairwise' | 'binary' | 'scalar'; mode?: string; threshold?: number | string; perPrompt: boolean };
  trainer: { kind: string; method: 'dpo' | 'kto' | 'grpo' } & Record<string, unknown>;
  /** Where artifacts live: a folder, or s3://bucket/prefix with its endpoint settings. */
  artifacts: { root: string; endpoint?: string; region?: string; forcePathStyle?: boolean };
  eval?: { prompts: string; labeler?: { kind: string } & Record<string, unknown>; judge?: { kind: string } & Record<string, unknown> };
}

/** A kind's settings schema: a strict object whose `kind` is the kind's literal. */
export type KindSchema = z.ZodObject<{ kind: z.ZodLiteral<string> } & z.ZodRawShape>;

export interface KindDefinition<T extends KindSchema = KindSchema> {
  schema: T;
  /** Make the block's relative paths absolute against the campaign file's folder (`base`). */
  resolvePaths?(settings: z.output<T>, base: string): void;
  /**
   * Problems with the block in this campaign, after paths are resolved. `raw` is the block as written
   * (before defaults), for settings that matter only when given.
   */
  problems?(settings: z.output<T>, campaign: CampaignView, raw: Record<string, unknown> | undefined): Problem[];
  /**
   * Trainer kinds: whether the trainer reads `type` feedback for its method: null (it does), the reason it
   * does not, or undefined (no opinion: the generic method/feedback rules of load.ts decide).
   */
  feedbackProblem?(settings: z.output<T>, type: CampaignView['feedback']['type']): string | null | undefined;
  /**
   * The deeper checks of `validate`, `start` and `run` (files open, endpoints answer): problems are
   * returned as `setting: message` lines; what may be fine by the time the campaign runs is a warning.
   */
  preflight?(settings: z.output<T>, campaign: CampaignView, o: PreflightOptions): Promise<string[]>;
}

export interface PreflightOptions {
  warn: (line: string) => void;
  /** How long to wait for an endpoint (ms). */
  endpointTimeoutMs?: number;
}

/** The kind's name, read from its schema's literal. */
export const kindOf = (k: KindDefinition): string => k.schema.shape.kind.value;

/** The kinds of each role, as the campaign file's `sampler`, `labeler` and `trainer` blocks accept them. */
export interface CampaignKinds {
  sampler: readonly KindDefinition[];
  labeler: readonly KindDefinition[];
  trainer: readonly KindDefinition[];
}

/** The definition of the kind a settings block names (after parsing, an unknown kind is a config that bypassed `validate`). */
export function kindNamed<K extends KindDefinition>(kinds: readonly K[], role: string, kind: string): K {
  const k = kinds.find((d) => kindOf(d) === kind);
  if (!k) throw new ConfigError('campaign', [`${role}.kind: unknown kind "${kind}" (known: ${kinds.map(kindOf).join(', ')})`]);
  return k;
}
