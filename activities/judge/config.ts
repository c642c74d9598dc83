/** The judge labeler's settings (campaign file `labeler: { kind: judge, … }` or `alignloop judge --config`). */
import { z } from 'zod';
import { limitsSchema } from '../openai/limits';

export const JudgeConfigSchema = z.strictObject({
  kind: z.literal('judge'),
  mode: z
    .enum(['pointwise', 'pairwise'])
    .default('pointwise')
    .describe('pointwise: a rating per response (the reward). pairwise: a verdict per pair (pairwise feedback directly).'),
  baseURL: z.string().url().describe("The OpenAI-compatible server's /v1 URL of the judge."),
  model: z.string().min(1).describe('The judge model as the server names it.'),
  apiKeyEnv: z
    .string()
    .default('OPENAI_API_KEY')
    .describe('The environment variable holding the API key, read by the worker; the key never enters inputs or logs.'),
  template: z.string().optional().describe("A template file with named placeholders; default: alignloop's rubric for the mode."),
  scale: z
    .strictObject({ min: z.number(), max: z.number() })
    .default({ min: 1, max: 10 })
    .describe('The rating scale of pointwise judgements (a reply outside it is out_of_range, never clipped).'),
  pairing: z.enum(['random', 'all']).default('random').describe("pairwise: random disjoint pairs per prompt (default), or every pair of the prompt's samples."),
  maxPairsPerPrompt: z.number().int().positive().optional().describe('pairwise: at most this many pairs per prompt.'),
  swap: z
    .enum(['single', 'both'])
    .default('single')
    .describe('pairwise position bias: single = one seeded order per pair (recorded); both = both orders, disagreement is a tie.'),
  seed: z.number().int().default(0).describe('Seed of pair choice and presentation order.'),
  temperature: z.number().min(0).default(0).describe('Sampling temperature of the judge (0: as deterministic as the server allows).'),
  maxTokens: z.number().int().positive().default(256).describe('max_tokens of a judgement; a reply cut there is truncated and never parsed.'),
  structured: z
    .enum(['auto', 'always', 'never'])
    .default('auto')
    .describe('Structured output (JSON schema) when the server supports it; auto falls back to text parsing.'),
  timeoutSeconds: z.number().positive().default(60).describe('Bound of one whole call, body included.'),
  attempts: z.number().int().positive().default(3).describe('Attempts on 5xx / timeouts / connection errors before an item is left unlabelled.'),
  limits: limitsSchema({ requestsPerMinute: 500, tokensPerMinute: 200000, maxInFlight: 16 }),
  maxUnlabelledShare: z.number().min(0).max(1).default(0.2).describe('A shard whose unlabelled share exceeds this fails loudly: something systemic is wrong.'),
  prices: z
    .strictObject({
      inputPerMTok: z.number().min(0).default(0).describe('USD per million prompt tokens.'),
      outputPerMTok: z.number().min(0).default(0).describe('USD per million completion tokens.'),
      batchFactor: z.number().min(0).max(1).default(0.5).describe('Price factor of Batch API calls (OpenAI: half price).'),
    })
    .default({ inputPerMTok: 0, outputPerMTok: 0, batchFactor: 0.5 })
    .describe('Prices of the judge model, for cost and budget.'),
  batch: z
    .strictObject({
      enabled: z.boolean().default(false).describe('Judge through the Batch API (upload, create, wait durably, download) instead of online calls.'),
      completionWindow: z.literal('24h').default('24h').describe('The Batch API completion window.'),
      /** How often the workflow looks at the batch (a durable timer between short polls). */
      pollSeconds: z.number().positive().default(60).describe('How often the workflow looks at the batch (a durable retry between short polls).'),
    })
    .default({ enabled: false, completionWindow: '24h', pollSeconds: 60 })
    .describe('Batch API: upload, create, wait durably (no activity held open), download. For large offline jobs.'),
});

export type JudgeConfig = z.infer<typeof JudgeConfigSchema>;

/** The decoding parameters that change a judgement: part of every cache key. */
export function decodingOf(c: JudgeConfig): Record<string, unknown> {
  return { temperature: c.temperature, max_tokens: c.maxTokens, scale: c.scale };
}

export function costUsd(c: JudgeConfig, promptTokens: number, completionTokens: number, batch: boolean): number {
  return ((promptTokens * c.prices.inputPerMTok + completionTokens * c.prices.outputPerMTok) / 1e6) * (batch ? c.prices.batchFactor : 1);
}
