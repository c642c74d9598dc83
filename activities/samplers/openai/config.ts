/** Settings of the `openai` sampler: any OpenAI-compatible server (vLLM, SGLang, llama.cpp, TGI, OpenAI). */
import { z } from 'zod';
import * as path from 'node:path';
import { builtinTrainerProblem, checkEndpoint } from '../../campaign/checks';
import { limitsSchema } from '../../openai/limits';
import type { SamplerKind } from '../sampler';

export const OpenAISamplerSchema = z.strictObject({
  kind: z.literal('openai'),
  baseURL: z.string().url().describe("The OpenAI-compatible server's /v1 URL (vLLM, SGLang, llama.cpp, TGI, OpenAI)."),
  model: z.string().min(1).describe('May name the policy per iteration: "{{policy.name}}", "{{iteration}}" (e.g. a LoRA or served-model-name per checkpoint).'),
  apiKeyEnv: z
    .string()
    .default('OPENAI_API_KEY')
    .describe('The environment variable holding the API key, read by the sample worker (never in inputs or logs).'),
  endpoint: z
    .enum(['chat', 'completions'])
    .default('chat')
    .describe('chat: send messages (the server applies the chat template); completions: render it here from `tokenizer`.'),
  tokenizer: z.string().optional().describe("completions: a folder with tokenizer_config.json holding the policy's chat_template."),
  samplesPerPrompt: z.number().int().positive().default(8).describe('Completions requested per prompt.'),
  temperature: z.number().min(0).default(1.0).describe('Sampling temperature sent with every request.'),
  topP: z.number().gt(0).max(1).default(1).describe('Nucleus sampling top_p sent with every request.'),
  maxTokens: z.number().int().positive().default(512).describe('max_tokens of each completion; a completion cut there is truncated (see dropTruncated).'),
  stop: z.array(z.string()).optional().describe('Stop sequences sent with every request.'),
  seed: z.number().int().default(0).describe('Seeds per (seed, iteration, prompt, sample), so a retried shard asks for the same samples.'),
  useN: z
    .enum(['auto', 'always', 'never'])
    .default('auto')
    .describe('Ask for all samples of a prompt in one request (`n`); auto: try it, fall back to one request per sample.'),
  dropTruncated: z.boolean().default(true).describe('A sample cut at maxTokens is not a preference signal: dropped (and counted) unless false.'),
  timeoutSeconds: z.number().positive().default(300).describe('Bound of one whole request, body included.'),
  attempts: z.number().int().positive().default(3).describe('Attempts on 5xx / timeouts / connection errors / malformed replies before a sample is given up.'),
  limits: limitsSchema({ requestsPerMinute: 6000, tokensPerMinute: 10_000_000, maxInFlight: 32 }),
  maxFailedShare: z.number().min(0).max(1).default(0.2).describe('A shard whose share of failed samples exceeds this fails loudly (the campaign pauses).'),
});

export type OpenAISamplerConfig = z.infer<typeof OpenAISamplerSchema>;

export const openaiSamplerKind: SamplerKind<typeof OpenAISamplerSchema> = {
  schema: OpenAISamplerSchema,
  resolvePaths(s, base) {
    if (s.tokenizer) s.tokenizer = path.resolve(base, s.tokenizer);
  },
  problems(s, c) {
    const out = builtinTrainerProblem('openai', c.trainer.kind, 'trainer.kind: command (HALOs, TRL, OpenRLHF) or none (feedback files for training elsewhere)');
    if (s.endpoint === 'completions' && !s.tokenizer)
      out.push({
        path: ['sampler', 'tokenizer'],
        message: 'endpoint: completions renders the chat template here: set sampler.tokenizer to a folder with tokenizer_config.json',
      });
    return out;
  },
  async preflight(s, _c, o) {
    // A templated model name ({{policy.name}}) is only known per iteration.
    if (!s.model.includes('{{')) await checkEndpoint('sampling', s, o);
    return [];
  },
  load: async () => (await import('./sampler')).openaiSampler,
};
