/** Settings of the `reward-model` labeler: an exported reward model scored here with ONNX Runtime. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import type { Problem } from '../../../config/kind';
import { readChatTemplate } from '../../artifacts/chat-template-file';
import type { LabelerKind } from '../labeler';
import { findModelFile } from '../../score/model-folder';
import { isS3Root } from '../../../config/store-location';

export const RewardModelLabelerSchema = z.strictObject({
  kind: z.literal('reward-model'),
  model: z.string().min(1).describe('The exported reward-model folder (model.onnx or onnx/model.onnx, tokenizer.json, tokenizer_config.json).'),
  provider: z.enum(['cpu', 'cuda']).default('cpu').describe("ONNX Runtime's execution provider (cuda falls back to the CPU for unsupported operators)."),
  deviceId: z.number().int().nonnegative().default(0).describe('The GPU with provider: cuda.'),
  batchTokens: z.number().int().positive().default(8192).describe('Padded tokens per ONNX Runtime batch (batches are planned by length).'),
  maxLength: z
    .number()
    .int()
    .positive()
    .optional()
    .describe(
      "Truncate inputs to this many tokens (the prompt from the left first); default: the smallest of the tokenizer's model_max_length, the model's positions and 2048.",
    ),
  modelFile: z.string().optional().describe('The ONNX graph in the folder when it is not model.onnx, onnx/model.onnx or the only .onnx file.'),
  threads: z.number().int().positive().optional().describe('ONNX Runtime intra-op threads (default: the cores).'),
  rewardIndex: z.number().int().nonnegative().optional().describe('Which logit is the reward (default 0 for one label, 1 for two: Bradley-Terry heads).'),
  chatTemplate: z.string().optional().describe("The chat template: default (what transformers uses), one of the folder's named templates, or a .jinja file."),
  tokenizerThreads: z
    .number()
    .int()
    .nonnegative()
    .optional()
    .describe("Threads that render and tokenize (0: the activity's own); default none below 4 cores, else half the cores up to 8."),
  inputFormat: z
    .enum(['auto', 'pair'])
    .default('auto')
    .describe('auto: the chat template, else the plain format; pair: (prompt, response) as a sentence pair, as encoder RMs are called.'),
  allowModelChange: z
    .boolean()
    .default(false)
    .describe('Label later shards with a changed model folder (recorded as a new labeler version) instead of pausing the campaign.'),
});

export type RewardModelConfig = z.infer<typeof RewardModelLabelerSchema>;

export const rewardModelKind: LabelerKind<typeof RewardModelLabelerSchema> = {
  schema: RewardModelLabelerSchema,
  queue: 'score',
  resolvePaths(l, base) {
    if (!isS3Root(l.model)) l.model = path.resolve(base, l.model);
    const t = l.chatTemplate;
    if (t && (t.includes('/') || t.endsWith('.jinja'))) l.chatTemplate = path.resolve(base, t);
  },
  problems(l, c) {
    const out: Problem[] = [];
    if (isS3Root(l.model)) {
      // Fetched by the score workers from the campaign's object store; validate opens it (preflight).
      if (!isS3Root(c.artifacts.root))
        out.push({
          path: ['labeler', 'model'],
          message: 'an s3:// model needs the artifacts in the same object store (artifacts.root: s3://...); or give a local folder',
        });
      return out;
    }
    try {
      findModelFile(l.model, l.modelFile);
    } catch (e) {
      out.push({ path: ['labeler', l.modelFile ? 'modelFile' : 'model'], message: `${(e as Error).message}; point it at an exported reward-model folder` });
    }
    const choice = l.chatTemplate;
    if (choice && choice !== 'default' && fs.existsSync(l.model)) {
      const t = readChatTemplate(l.model, undefined, choice);
      if (t.problem) out.push({ path: ['labeler', 'chatTemplate'], message: `${t.problem}; use default, one of the names, or a .jinja file` });
    }
    return out;
  },
  async preflight(l, c) {
    const { RewardScorer } = await import('../../score/scorer');
    const { closeCachedSessions } = await import('../../score/ort-session');
    try {
      // An s3:// model: fetched into this host's cache first, as a score worker does.
      const modelDir = isS3Root(l.model) ? await (await import('../../store/with-store')).fetchModelFolder(l.model, c.artifacts) : l.model;
      // Opens the ORT session (on the CPU: this machine may not be the GPU one) and the tokenizer, and encodes one item.
      const scorer = await RewardScorer.open({
        modelDir,
        provider: 'cpu',
        threads: 1,
        batchTokens: l.batchTokens,
        maxLength: l.maxLength,
        modelFile: l.modelFile,
        rewardIndex: l.rewardIndex,
      });
      scorer.encode({ prompt: [{ role: 'user', content: 'ping' }], response: 'pong' });
      return [];
    } catch (e) {
      return [`labeler.model: ${(e as Error).message}`];
    } finally {
      await closeCachedSessions();
    }
  },
  load: async () => (await import('./labeler')).rewardModelLabeler,
};
