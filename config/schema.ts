/**
 * The campaign file's schema (zod is the source of truth for shapes and defaults): the parts every
 * campaign has, and the blocks of the sampler, labeler and trainer kinds, which the roles' registries
 * supply (see kind.ts).
 */
import { z } from 'zod';
import type { KindDefinition } from './kind';

const posInt = z.number().int().positive();

export const PromptsSchema = z.strictObject({
  path: z.string().min(1),
  perIteration: posInt,
  seed: z.number().int().default(0),
  /** Reuse prompts across iterations (a fresh permutation per pass) instead of disjoint slices. */
  reuse: z.boolean().default(false),
});

export const FeedbackSchema = z.strictObject({
  type: z.enum(['pairwise', 'binary', 'scalar']),
  mode: z.enum(['random', 'max', 'min']).optional(),
  threshold: z.union([z.number(), z.enum(['mean', 'median'])]).optional(),
  perPrompt: z.boolean().default(false),
  seed: z.number().int().default(0),
});

type Schemas<K extends readonly KindDefinition[]> = { -readonly [I in keyof K]: K[I]['schema'] };

/** One role's block: whichever of its kinds `kind` names. */
export function kindUnion<const K extends readonly [KindDefinition, ...KindDefinition[]]>(kinds: K) {
  return z.discriminatedUnion('kind', kinds.map((k) => k.schema) as unknown as Schemas<K>);
}

export function campaignSchema<S extends z.ZodType, L extends z.ZodType, T extends z.ZodType>(roles: { sampler: S; labeler: L; trainer: T }) {
  return z.strictObject({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'use letters, digits, ".", "_" or "-"'),
    iterations: posInt,
    prompts: PromptsSchema,
    /** The initial policy as a model folder (or file): what {{policy.path}} is for the managed and command samplers. */
    policy: z.strictObject({ path: z.string().min(1), name: z.string().min(1).default('initial') }).optional(),
    sampler: roles.sampler,
    labeler: roles.labeler,
    feedback: FeedbackSchema,
    trainer: roles.trainer,
    sharding: z
      .strictObject({
        promptsPerShard: posInt.default(256),
        /** Shards sampled or labeled at once per iteration (Temporal refuses more than 2,000 pending activities per workflow). */
        maxInFlightShards: posInt.max(1000).default(200),
      })
      .default({ promptsPerShard: 256, maxInFlightShards: 200 }),
    artifacts: z.strictObject({ root: z.string().min(1).default('.alignloop/artifacts') }).default({ root: '.alignloop/artifacts' }),
    /** How fast a dead worker is noticed: an activity without a heartbeat for this long is retried elsewhere. */
    durability: z
      .strictObject({
        heartbeatTimeoutSeconds: posInt.default(30),
        /** Transient failures are retried without an attempt cap, waiting from retryInitialSeconds, doubling up to retryMaxIntervalSeconds. */
        retryInitialSeconds: z.number().positive().default(1),
        retryMaxIntervalSeconds: z.number().positive().default(60),
      })
      .default({ heartbeatTimeoutSeconds: 30, retryInitialSeconds: 1, retryMaxIntervalSeconds: 60 }),
    /** Paid labeling budget: reaching it pauses the campaign (raise it with `alignloop resume ID --budget USD`). */
    budget: z.strictObject({ usd: z.number().positive() }).optional(),
  });
}
