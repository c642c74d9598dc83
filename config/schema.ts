/**
 * The campaign file's schema (zod is the source of truth for shapes and defaults): the parts every
 * campaign has, and the blocks of the sampler, labeler and trainer kinds, which the roles' registries
 * supply (see kind.ts).
 */
import { z } from 'zod';
import type { KindDefinition } from './kind';

const posInt = z.number().int().positive();

export const PromptsSchema = z.strictObject({
  path: z.string().min(1).describe('The prompts file: JSONL, one {prompt_id?, prompt (text or chat turns), candidates?} per line.'),
  perIteration: posInt.describe('Prompts sampled per iteration: disjoint slices of one seeded permutation unless reuse is set.'),
  seed: z.number().int().default(0).describe('Seed of the prompt permutation.'),
  reuse: z.boolean().default(false).describe('Reuse prompts across iterations (a fresh permutation per pass) instead of disjoint slices.'),
});

export const FeedbackSchema = z.strictObject({
  type: z.enum(['pairwise', 'binary', 'scalar']).describe('pairwise (DPO, KTO), binary (KTO, GRPO) or scalar (GRPO) examples: docs/feedback-format.md.'),
  mode: z
    .enum(['random', 'max', 'min'])
    .optional()
    .describe('pairwise: max (default; best vs worst), random (seeded shuffle, consecutive pairs) or min (smallest admissible gap).'),
  threshold: z
    .union([z.number(), z.enum(['mean', 'median'])])
    .optional()
    .describe(
      'pairwise: a pair is kept only if its gap exceeds this (a number >= 0; default 0); binary: desirable = reward >= this (a number, mean (default) or median).',
    ),
  perPrompt: z.boolean().default(false).describe('binary: mean/median thresholds per prompt instead of per iteration.'),
  seed: z.number().int().default(0).describe('Seed of random pairing and the 50% A/B swap per pair.'),
});

/** `eval:`: held-out prompts sampled by each new checkpoint, scored against the initial policy's answers (docs/evaluation.md). */
export function evalSchema<L extends z.ZodType>(labeler: L) {
  return z
    .strictObject({
      prompts: z
        .string()
        .min(1)
        .describe('The held-out prompts file (the format of prompts.path); no prompt of it may be in prompts.path (checked by prompt hash).'),
      everyIterations: posInt.default(1).describe('Evaluate after every N-th iteration (and always after the last).'),
      samplesPerPrompt: posInt.default(1).describe('Answers per held-out prompt, each compared with the baseline answer of the same prompt and sample number.'),
      seed: z.number().int().default(0).describe('Seed of the eval draws: the same for every evaluated iteration.'),
      greedy: z.boolean().default(false).describe('Answer greedily (the most likely answer) where the sampler kind can (builtin).'),
      queue: z
        .enum(['sample', 'eval'])
        .default('sample')
        .describe(
          'Where eval answers are sampled and scored: the sample and score queues (default), or alignloop-eval, whose workers (`worker --roles eval`) do both apart from training.',
        ),
      labeler: labeler.optional().describe('Score eval answers with this labeler (a reward-model or reward-server block) instead of the campaign labeler.'),
      judge: labeler
        .optional()
        .describe(
          'An LLM judge (kind: judge, mode: pairwise) that compares each eval answer with the baseline answer in both orders (disagreement: a tie): the win rate is its verdicts.',
        ),
      baseline: z
        .enum(['initial', 'best'])
        .default('initial')
        .describe(
          "What each checkpoint's answers are compared with: the initial policy's (made once), or the best checkpoint's so far (then a win rate above 0.5 makes a new best).",
        ),
      bestBy: z.enum(['winRate', 'lcWinRate', 'rewardMean']).default('winRate').describe('The metric that picks the best checkpoint (`alignloop best`).'),
      stopWhen: z
        .strictObject({ noImprovement: posInt.describe('End the campaign after this many evaluations without a better best.') })
        .optional()
        .describe('Stop rules.'),
      hackingGuard: z
        .boolean()
        .default(false)
        .describe('Pause the campaign when the training reward rose while the eval win rate fell for two evaluations, or answers grew past maxLengthRatio.'),
      maxLengthRatio: z
        .number()
        .positive()
        .default(1.5)
        .describe("hackingGuard: the mean eval answer length may grow to this multiple of the baseline's, no further."),
    })
    .describe('Evaluation on held-out prompts after training (docs/evaluation.md).');
}

type Schemas<K extends readonly KindDefinition[]> = { -readonly [I in keyof K]: K[I]['schema'] };

/** One role's block: whichever of its kinds `kind` names. */
export function kindUnion<const K extends readonly [KindDefinition, ...KindDefinition[]]>(kinds: K) {
  return z.discriminatedUnion('kind', kinds.map((k) => k.schema) as unknown as Schemas<K>);
}

export function campaignSchema<S extends z.ZodType, L extends z.ZodType, T extends z.ZodType>(roles: { sampler: S; labeler: L; trainer: T }) {
  return z.strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'use letters, digits, ".", "_" or "-"')
      .describe('The campaign name: the default campaign id (letters, digits, ".", "_", "-").'),
    iterations: posInt.describe('Iterations of sample -> label -> feedback -> train.'),
    prompts: PromptsSchema.describe('Where the prompts come from and how many each iteration takes.'),
    policy: z
      .strictObject({
        path: z.string().min(1).describe('The initial model folder.'),
        name: z.string().min(1).default('initial').describe('Its name, as {{policy.name}} in commands and model names.'),
      })
      .optional()
      .describe('The initial policy as a model folder (or file): what {{policy.path}} is for the managed and command samplers.'),
    sampler: roles.sampler,
    labeler: roles.labeler,
    feedback: FeedbackSchema.describe('How labelled samples become training examples (docs/feedback.md).'),
    trainer: roles.trainer,
    sharding: z
      .strictObject({
        promptsPerShard: posInt.default(256).describe('Prompts per sample / label shard (one activity each, retried alone).'),
        maxInFlightShards: posInt
          .max(1000)
          .default(200)
          .describe('Shards sampled or labeled at once per iteration (Temporal refuses more than 2,000 pending activities per workflow).'),
      })
      .default({ promptsPerShard: 256, maxInFlightShards: 200 })
      .describe('How an iteration is split into activities.'),
    schedule: z
      .strictObject({
        maxPolicyLag: z
          .number()
          .int('a whole number of checkpoint versions: 0, 1 or 2')
          .min(0, '0 (iterations one after another), 1 or 2')
          .max(2, 'at most 2: samples more than two checkpoints old teach the policy about a model it no longer is')
          .default(0)
          .describe(
            "How many checkpoint versions an iteration's samples may be behind the checkpoint it trains from: 0 runs iterations one after another; 1 or 2 sample the next iteration while this one trains (docs/pipelining.md).",
          ),
      })
      .optional()
      .describe('How iterations overlap: sampling of the next iteration while this one trains, with a bounded policy lag.'),
    artifacts: z
      .strictObject({
        root: z
          .string()
          .min(1)
          .default('.alignloop/artifacts')
          .describe(
            'Where every artifact is written: a folder every worker sees (local disk or a shared filesystem), or `s3://BUCKET/PREFIX` for an S3-compatible object store (workers need no shared disk; credentials come from the AWS chain, never from this file).',
          ),
        endpoint: z.url().optional().describe('S3-compatible server URL (e.g. http://10.0.0.5:8333 for SeaweedFS, MinIO, Ceph RGW, R2); leave out for AWS S3.'),
        region: z.string().min(1).optional().describe('S3 region (default: AWS_REGION, else us-east-1).'),
        forcePathStyle: z
          .boolean()
          .optional()
          .describe('Path-style S3 URLs (http://host/bucket/key): most S3-compatible servers need it; the default is true when `endpoint` is set.'),
      })
      .default({ root: '.alignloop/artifacts' })
      .describe('Where artifacts are written.'),
    durability: z
      .strictObject({
        heartbeatTimeoutSeconds: posInt.default(30).describe('An activity without a heartbeat for this long is retried elsewhere.'),
        retryInitialSeconds: z
          .number()
          .positive()
          .default(1)
          .describe('Transient failures are retried without an attempt cap, waiting from this, doubling up to retryMaxIntervalSeconds.'),
        retryMaxIntervalSeconds: z.number().positive().default(60).describe('The longest wait between retries.'),
      })
      .default({ heartbeatTimeoutSeconds: 30, retryInitialSeconds: 1, retryMaxIntervalSeconds: 60 })
      .describe('How fast a dead worker is noticed: an activity without a heartbeat for this long is retried elsewhere.'),
    eval: evalSchema(roles.labeler).optional(),
    budget: z
      .strictObject({ usd: z.number().positive().describe('US dollars.') })
      .optional()
      .describe('Paid labeling budget: reaching it pauses the campaign (raise it with `alignloop resume ID --budget USD`).'),
  });
}
