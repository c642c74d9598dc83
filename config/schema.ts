/** The campaign file's schema (zod is the source of truth for shapes and defaults). */
import { z } from 'zod';
import { JudgeConfigSchema } from '../activities/judge/config';
import { RewardServerLabelerSchema } from '../activities/score/remote/config';
import { CommandTrainerSchema } from '../activities/trainers/command-config';
import { CommandSamplerSchema } from '../activities/samplers/command-config';
import { ManagedSamplerSchema } from '../activities/samplers/managed-config';
import { OpenAISamplerSchema } from '../activities/samplers/openai-config';

const posInt = z.number().int().positive();

export const PromptsSchema = z.strictObject({
  path: z.string().min(1),
  perIteration: posInt,
  seed: z.number().int().default(0),
  /** Reuse prompts across iterations (a fresh permutation per pass) instead of disjoint slices. */
  reuse: z.boolean().default(false),
});

export const BuiltinSamplerSchema = z.strictObject({
  kind: z.literal('builtin'),
  samplesPerPrompt: posInt.default(8),
  temperature: z.number().positive().default(1.0),
  seed: z.number().int().default(0),
});

export const SamplerSchema = z.discriminatedUnion('kind', [BuiltinSamplerSchema, OpenAISamplerSchema, ManagedSamplerSchema, CommandSamplerSchema]);

export const RewardModelLabelerSchema = z.strictObject({
  kind: z.literal('reward-model'),
  model: z.string().min(1),
  provider: z.enum(['cpu', 'cuda']).default('cpu'),
  deviceId: z.number().int().nonnegative().default(0),
  batchTokens: posInt.default(8192),
  maxLength: posInt.optional(),
  /** The ONNX graph in the folder when it is not model.onnx, onnx/model.onnx or the only .onnx file. */
  modelFile: z.string().optional(),
  threads: posInt.optional(),
  rewardIndex: z.number().int().nonnegative().optional(),
  /** The chat template: default (what transformers uses), one of the folder's named templates, or a .jinja file. */
  chatTemplate: z.string().optional(),
  /** Threads that render and tokenize (0: the activity's own); default none below 4 cores, else half the cores up to 8. */
  tokenizerThreads: z.number().int().nonnegative().optional(),
  /** auto: the chat template, else the plain format; pair: (prompt, response) as a sentence pair, as encoder RMs are called. */
  inputFormat: z.enum(['auto', 'pair']).default('auto'),
  /** Label later shards with a changed model folder (recorded as a new labeler version) instead of pausing the campaign. */
  allowModelChange: z.boolean().default(false),
});

export const LabelerSchema = z.discriminatedUnion('kind', [RewardModelLabelerSchema, RewardServerLabelerSchema, JudgeConfigSchema]);

export const FeedbackSchema = z.strictObject({
  type: z.enum(['pairwise', 'binary', 'scalar']),
  mode: z.enum(['random', 'max', 'min']).optional(),
  threshold: z.union([z.number(), z.enum(['mean', 'median'])]).optional(),
  perPrompt: z.boolean().default(false),
  seed: z.number().int().default(0),
});

export const BuiltinTrainerSchema = z.strictObject({
  kind: z.literal('builtin'),
  method: z.enum(['dpo', 'kto', 'grpo']),
  beta: z.number().positive().default(0.1),
  reference: z.enum(['initial', 'previous']).default('initial'),
  learningRate: z.number().positive().default(0.5),
  epochs: posInt.default(50),
  /** KTO weights for desirable / undesirable examples. */
  desirableWeight: z.number().positive().default(1),
  undesirableWeight: z.number().positive().default(1),
  /** Feature dimensions of the built-in log-linear policy (hashed n-grams). */
  dims: posInt.default(512),
});

/** No training by alignloop: the policy stays what the sampler serves; each iteration still labels and writes feedback files. */
export const NoTrainerSchema = z.strictObject({
  kind: z.literal('none'),
  /** What the feedback is for (checked against feedback.type like a real trainer's method). */
  method: z.enum(['dpo', 'kto', 'grpo']).default('dpo'),
});

export const TrainerSchema = z.discriminatedUnion('kind', [BuiltinTrainerSchema, NoTrainerSchema, CommandTrainerSchema]);

export const CampaignSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'use letters, digits, ".", "_" or "-"'),
  iterations: posInt,
  prompts: PromptsSchema,
  /** The initial policy as a model folder (or file): what {{policy.path}} is for the managed and command samplers. */
  policy: z.strictObject({ path: z.string().min(1), name: z.string().min(1).default('initial') }).optional(),
  sampler: SamplerSchema,
  labeler: LabelerSchema,
  feedback: FeedbackSchema,
  trainer: TrainerSchema,
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

export type CampaignConfig = z.infer<typeof CampaignSchema>;
