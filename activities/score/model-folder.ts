/**
 * A reward-model folder as people export it: model.onnx (+ external data), tokenizer.json,
 * tokenizer_config.json, and config.json when present. Validates and resolves pad token and
 * reward index; errors say which file is wrong and how to fix it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelFolderError } from '../../config/errors';

export interface ModelFolder {
  dir: string;
  modelPath: string;
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  config: Record<string, unknown> | null;
  padTokenId: number;
  /** From config.json num_labels (or id2label), when known. */
  numLabels: number | null;
  chatTemplate: string | null;
  specialIds: Set<number>;
  modelMaxLength: number | null;
}

function readJson(file: string, what: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new ModelFolderError(`${file}: missing ${what}; export the model with its tokenizer (e.g. optimum-cli export onnx --task text-classification)`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelFolderError(`${file}: not valid JSON (${(e as Error).message})`);
  }
}

function tokenString(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return null;
}

export function tokenId(tokenizerJson: Record<string, unknown>, token: string): number | null {
  const added = (tokenizerJson.added_tokens as { id: number; content: string }[] | undefined) ?? [];
  const a = added.find((t) => t.content === token);
  if (a) return a.id;
  const vocab = (tokenizerJson.model as { vocab?: unknown } | undefined)?.vocab;
  if (vocab && !Array.isArray(vocab) && typeof (vocab as Record<string, number>)[token] === 'number') return (vocab as Record<string, number>)[token];
  if (Array.isArray(vocab)) {
    const i = vocab.findIndex((e) => (Array.isArray(e) ? e[0] === token : e === token));
    if (i >= 0) return i;
  }
  return null;
}

export function loadModelFolder(dir: string): ModelFolder {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new ModelFolderError(`${dir}: model folder not found; pass the folder that holds model.onnx and tokenizer.json`);
  }
  const modelPath = path.join(dir, 'model.onnx');
  if (!fs.existsSync(modelPath)) throw new ModelFolderError(`${modelPath}: missing model.onnx; the folder must hold the exported ONNX graph`);
  const tokenizerJson = readJson(path.join(dir, 'tokenizer.json'), 'tokenizer.json');
  const tokenizerConfig = fs.existsSync(path.join(dir, 'tokenizer_config.json'))
    ? readJson(path.join(dir, 'tokenizer_config.json'), 'tokenizer_config.json')
    : {};
  const config = fs.existsSync(path.join(dir, 'config.json')) ? readJson(path.join(dir, 'config.json'), 'config.json') : null;

  let padTokenId: number | null = null;
  const padToken = tokenString(tokenizerConfig.pad_token);
  if (padToken !== null) {
    padTokenId = tokenId(tokenizerJson, padToken);
    if (padTokenId === null)
      throw new ModelFolderError(`${dir}/tokenizer_config.json: pad_token ${JSON.stringify(padToken)} is not in tokenizer.json's vocabulary`);
  } else if (config && typeof config.pad_token_id === 'number') {
    padTokenId = config.pad_token_id;
  }
  if (padTokenId === null) {
    throw new ModelFolderError(
      `${dir}: no pad token: tokenizer_config.json has no pad_token and config.json has no pad_token_id; ` +
        'set pad_token_id in config.json to the id the model was trained to pool with (often the eos token id)',
    );
  }
  let numLabels: number | null = null;
  if (config) {
    if (typeof config.num_labels === 'number') numLabels = config.num_labels;
    else if (config.id2label && typeof config.id2label === 'object') numLabels = Object.keys(config.id2label).length;
  }
  const specialIds = new Set<number>();
  for (const t of (tokenizerJson.added_tokens as { id: number; special?: boolean }[] | undefined) ?? []) if (t.special) specialIds.add(t.id);
  const mml = tokenizerConfig.model_max_length;
  return {
    dir,
    modelPath,
    tokenizerJson,
    tokenizerConfig,
    config,
    padTokenId,
    numLabels,
    chatTemplate: typeof tokenizerConfig.chat_template === 'string' ? tokenizerConfig.chat_template : null,
    specialIds,
    modelMaxLength: typeof mml === 'number' && mml > 0 && mml < 1e7 ? mml : null,
  };
}

/** num_labels = 1 -> logit 0; Bradley-Terry heads with num_labels = 2 -> logit 1 (HALOs' convention). */
export function defaultRewardIndex(numLabels: number): number {
  return numLabels === 2 ? 1 : 0;
}
