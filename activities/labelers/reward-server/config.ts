/** Settings of the `reward-server` labeler: a reward model a team already serves (vLLM, SGLang, OpenRLHF). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import type { Problem } from '../../../config/kind';
import { readChatTemplate } from '../../artifacts/chat-template-file';
import type { LabelerKind } from '../labeler';
import { limitsSchema } from '../../openai/limits';

export const REWARD_PROTOCOLS = ['vllm', 'sglang', 'openrlhf'] as const;

export const RewardServerLabelerSchema = z.strictObject({
  kind: z.literal('reward-server'),
  protocol: z
    .enum(REWARD_PROTOCOLS)
    .describe(
      'vllm: POST {baseURL}/classify (`vllm serve RM --runner pooling`), activation off per request; sglang: POST {baseURL}/classify with `text` (`--is-embedding`), the reward is embedding[0]; openrlhf: POST {baseURL}/get_reward with `query` (`python -m openrlhf.cli.serve_rm`).',
    ),
  baseURL: z.string().url().describe("The server's root, e.g. http://rm-host:8000 (no /v1)."),
  model: z.string().min(1).describe('The name the server serves the model under (vLLM --served-model-name, SGLang); recorded for every reward.'),
  apiKeyEnv: z.string().optional().describe('Environment variable holding the API key, if the server (or a gateway in front of it) wants one.'),
  tokenizer: z
    .string()
    .optional()
    .describe("The reward model's folder (tokenizer_config.json / chat_template.jinja): the chat template the texts are rendered with."),
  chatTemplate: z.string().optional().describe('Or a .jinja file with the chat template.'),
  rewardIndex: z
    .number()
    .int()
    .nonnegative()
    .optional()
    .describe('vllm: which class probability (logit, with activation off) is the reward; default 0 for one label, 1 for two.'),
  batchSize: z.number().int().positive().default(32).describe('Conversations per request.'),
  timeoutSeconds: z.number().positive().default(120).describe('Bound of one whole request, body included.'),
  attempts: z
    .number()
    .int()
    .positive()
    .default(4)
    .describe('Attempts per request on 5xx, timeouts, dropped connections and garbage replies; then its items are unlabelled with the reason.'),
  maxUnlabelledShare: z
    .number()
    .min(0)
    .max(1)
    .default(0.2)
    .describe('Above this share of unlabelled items in a shard, the campaign pauses: something systemic is wrong with the server.'),
  limits: limitsSchema({ requestsPerMinute: 6000, tokensPerMinute: 100_000_000, maxInFlight: 8 }),
});

export type RewardServerConfig = z.infer<typeof RewardServerLabelerSchema>;

export const rewardServerKind: LabelerKind<typeof RewardServerLabelerSchema> = {
  schema: RewardServerLabelerSchema,
  queue: 'score',
  resolvePaths(l, base) {
    if (l.tokenizer) l.tokenizer = path.resolve(base, l.tokenizer);
    if (l.chatTemplate) l.chatTemplate = path.resolve(base, l.chatTemplate);
  },
  problems(l) {
    const out: Problem[] = [];
    if (!l.tokenizer && !l.chatTemplate)
      out.push({
        path: ['labeler'],
        message: 'a reward server scores text: give labeler.tokenizer (the reward model folder, for its chat template) or labeler.chatTemplate (a .jinja file)',
      });
    for (const k of ['tokenizer', 'chatTemplate'] as const)
      if (l[k] && !fs.existsSync(l[k]!)) out.push({ path: ['labeler', k], message: `not found: ${l[k]}` });
    if (l.tokenizer && !l.chatTemplate && fs.existsSync(l.tokenizer)) {
      const t = readChatTemplate(l.tokenizer);
      if (t.template === null)
        out.push({
          path: ['labeler', 'tokenizer'],
          message: `${t.problem ?? `${l.tokenizer} has no chat template`}; give labeler.chatTemplate (a .jinja file)`,
        });
    }
    return out;
  },
  load: async () => (await import('./labeler')).rewardServerLabeler,
};
