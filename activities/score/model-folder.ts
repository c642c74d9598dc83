/**
 * A reward-model folder as people export it: model.onnx (+ external data), tokenizer.json,
 * tokenizer_config.json, and config.json when present. Validates and resolves pad token and
 * reward index; errors say which file is wrong and how to fix it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelFolderError } from '../../config/errors';
import { readChatTemplate, tokenString } from '../artifacts/chat-template-file';

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
  /** The longest input the model's position embeddings take (config.json), when known. */
  maxPositions: number | null;
  /** Where the chat template came from, for messages. */
  chatTemplateSource: string | null;
  /** Set when tokenizer_config's pad token and config.json's pad_token_id disagree (config.json's is used). */
  padNote: string | null;
}

/**
 * The ONNX graph of a folder: model.onnx, else optimum's onnx/model.onnx, else the only *.onnx in the
 * folder or its onnx/ subfolder (model_quantized.onnx, decoder_model.onnx, …); `file` names one.
 */
export function findModelFile(dir: string, file?: string): string {
  if (file) {
    const p = path.resolve(dir, file);
    if (!fs.existsSync(p)) throw new ModelFolderError(`${p}: not found (labeler.modelFile); list the folder's .onnx files and pick one`);
    return p;
  }
  for (const c of ['model.onnx', path.join('onnx', 'model.onnx')]) if (fs.existsSync(path.join(dir, c))) return path.join(dir, c);
  const found = ['.', 'onnx'].flatMap((sub) => {
    const d = path.join(dir, sub);
    return fs.existsSync(d) && fs.statSync(d).isDirectory()
      ? fs
          .readdirSync(d)
          .filter((f) => f.endsWith('.onnx'))
          .map((f) => path.join(sub, f))
      : [];
  });
  if (found.length === 1) return path.join(dir, found[0]);
  if (found.length === 0) throw new ModelFolderError(`${path.join(dir, 'model.onnx')}: missing model.onnx; the folder must hold the exported ONNX graph`);
  throw new ModelFolderError(
    `${dir}: several ONNX graphs (${found.map((f) => path.normalize(f)).join(', ')}) and no model.onnx; name the one to score with labeler.modelFile (or --model-file)`,
  );
}

function chatTemplateOf(dir: string, tokenizerConfig: Record<string, unknown>, choice?: string): { template: string | null; source: string | null } {
  const t = readChatTemplate(dir, tokenizerConfig, choice);
  if (t.problem)
    throw new ModelFolderError(`${t.problem}; name the one to score with in labeler.chatTemplate (or --chat-template): default, a name, or a .jinja file`);
  return t;
}

/** Position-embedding length from config.json (RoBERTa-style models offset positions by padding_idx + 1). */
function maxPositionsOf(config: Record<string, unknown> | null): number | null {
  if (!config) return null;
  const n = [config.max_position_embeddings, config.n_positions, config.n_ctx, config.max_sequence_length].find((v) => typeof v === 'number' && v > 0) as
    number | undefined;
  if (n === undefined) return null;
  const offset = ['roberta', 'xlm-roberta', 'camembert', 'longformer', 'bart', 'mbart'].includes(String(config.model_type)) ? 2 : 0;
  return n - offset;
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

export function loadModelFolder(dir: string, modelFile?: string, chatTemplateChoice?: string): ModelFolder {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new ModelFolderError(`${dir}: model folder not found; pass the folder that holds model.onnx and tokenizer.json`);
  }
  const modelPath = findModelFile(dir, modelFile);
  const tokenizerJson = readJson(path.join(dir, 'tokenizer.json'), 'tokenizer.json');
  const tokenizerConfig = fs.existsSync(path.join(dir, 'tokenizer_config.json'))
    ? readJson(path.join(dir, 'tokenizer_config.json'), 'tokenizer_config.json')
    : {};
  const config = fs.existsSync(path.join(dir, 'config.json')) ? readJson(path.join(dir, 'config.json'), 'config.json') : null;

  // The graph of a decoder reward model pools on config.json's pad_token_id (HF *ForSequenceClassification):
  // padding with any other id moves the pooled position. So config.json's id wins when both are set.
  let padTokenId: number | null = null;
  let padNote: string | null = null;
  const padToken = tokenString(tokenizerConfig.pad_token);
  const tokPad = padToken !== null ? tokenId(tokenizerJson, padToken) : null;
  if (padToken !== null && tokPad === null && !(config && typeof config.pad_token_id === 'number'))
    throw new ModelFolderError(`${dir}/tokenizer_config.json: pad_token ${JSON.stringify(padToken)} is not in tokenizer.json's vocabulary`);
  if (config && typeof config.pad_token_id === 'number') {
    padTokenId = config.pad_token_id;
    if (tokPad !== null && tokPad !== padTokenId)
      padNote = `tokenizer_config.json's pad_token ${JSON.stringify(padToken)} (id ${tokPad}) differs from config.json's pad_token_id ${padTokenId}; padding with ${padTokenId}, the id the model pools on`;
  } else padTokenId = tokPad;
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
  const chat = chatTemplateOf(dir, tokenizerConfig, chatTemplateChoice);
  return {
    dir,
    modelPath,
    tokenizerJson,
    tokenizerConfig,
    config,
    padTokenId,
    numLabels,
    chatTemplate: chat.template,
    chatTemplateSource: chat.source,
    specialIds,
    modelMaxLength: typeof mml === 'number' && mml > 0 && mml < 1e7 ? mml : null,
    maxPositions: maxPositionsOf(config),
    padNote,
  };
}

/** num_labels = 1 -> logit 0; Bradley-Terry heads with num_labels = 2 -> logit 1 (HALOs' convention). */
export function defaultRewardIndex(numLabels: number): number {
  return numLabels === 2 ? 1 : 0;
}
