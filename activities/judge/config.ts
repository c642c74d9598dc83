/** The judge labeler's settings (campaign file `labeler: { kind: judge, … }` or `alignloop judge --config`). */
import { z } from 'zod';

export const JudgeConfigSchema = z.strictObject({
  kind: z.literal('judge'),
  mode: z.enum(['pointwise']).default('pointwise'),
  baseURL: z.string().url(),
  model: z.string().min(1),
  /** The environment variable holding the API key, read by the worker; the key never enters inputs or logs. */
  apiKeyEnv: z.string().default('OPENAI_API_KEY'),
  /** A template file with {{prompt}} and {{response}} placeholders; default: alignloop's rubric. */
  template: z.string().optional(),
  scale: z.strictObject({ min: z.number(), max: z.number() }).default({ min: 1, max: 10 }),
  temperature: z.number().min(0).default(0),
  maxTokens: z.number().int().positive().default(256),
  /** Structured output (JSON schema) when the server supports it; auto falls back to text parsing. */
  structured: z.enum(['auto', 'always', 'never']).default('auto'),
  timeoutSeconds: z.number().positive().default(60),
  /** Attempts on 5xx / timeouts / connection errors before an item is left unlabelled. */
  attempts: z.number().int().positive().default(3),
  limits: z.strictObject({
    requestsPerMinute: z.number().positive().default(500),
    tokensPerMinute: z.number().positive().default(200000),
    /** Requests in flight across all workers of the campaign. */
    maxInFlight: z.number().int().positive().default(16),
    /** Window of the limits in seconds (60 for per-minute limits; smaller in tests). */
    windowSeconds: z.number().positive().default(60),
  }).default({ requestsPerMinute: 500, tokensPerMinute: 200000, maxInFlight: 16, windowSeconds: 60 }),
  /** A shard whose unlabelled share exceeds this fails loudly: something systemic is wrong. */
  maxUnlabelledShare: z.number().min(0).max(1).default(0.2),
  prices: z.strictObject({ inputPerMTok: z.number().min(0).default(0), outputPerMTok: z.number().min(0).default(0) }).default({ inputPerMTok: 0, outputPerMTok: 0 }),
});

export type JudgeConfig = z.infer<typeof JudgeConfigSchema>;
