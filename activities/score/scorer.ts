/** Reward-model scoring: encode, plan batches, run them on the cached session, read the reward logit. */
import * as os from 'node:os';
import type { Turn } from '../feedback/scored-samples';
import { padBatch, planBatches } from './batching';
import { cachedPool, defaultTokenizerThreads, EncodePool } from './encode-pool';
import { defaultRewardIndex, loadModelFolder, ModelFolder } from './model-folder';
import { ModelFingerprint, modelFingerprint } from './model-fingerprint';
import { cachedSession, OrtSession } from './ort-session';
import { Encoded, InputFormat, TextEncoder } from './render';
import { ModelFolderError } from '../../config/errors';

export interface ScorerOptions {
  modelDir: string;
  provider?: 'cpu' | 'cuda';
  deviceId?: number;
  /** ORT intra-op threads; default: the machine's cores. */
  threads?: number;
  /** Rows x padded length per batch; default 8192. */
  batchTokens?: number;
  /** Default: the smallest of the tokenizer's model_max_length, config.json's position embeddings, and 2048. */
  maxLength?: number;
  /** The ONNX file in the folder, when it is not model.onnx / onnx/model.onnx / the only one. */
  modelFile?: string;
  /** Which logit is the reward; default 1 for num_labels = 2, else 0. */
  rewardIndex?: number;
  /** default (what transformers uses), a named template of the folder, or a .jinja file. */
  chatTemplate?: string;
  /** Threads that render and tokenize (0: the calling thread); default: none below 4 cores, else half the cores up to 8. */
  tokenizerThreads?: number;
  /** auto (chat template, else the plain format) or pair (prompt and response as a sentence pair). */
  inputFormat?: InputFormat;
}

export interface ScoreItem {
  prompt: Turn[];
  response: string;
}

export class RewardScorer {
  readonly batchTokens: number;
  private constructor(
    readonly model: ModelFolder,
    readonly encoder: TextEncoder,
    readonly session: OrtSession,
    private readonly rewardIndexOverride: number | undefined,
    batchTokens: number,
    private readonly pool: EncodePool | null,
    /** Every file that decides the rewards (see model-fingerprint.ts). */
    readonly fingerprint: ModelFingerprint,
  ) {
    this.batchTokens = batchTokens;
  }

  static async open(opts: ScorerOptions): Promise<RewardScorer> {
    const model = loadModelFolder(opts.modelDir, opts.modelFile, opts.chatTemplate);
    // A session or tokenizer cached in this process for the same paths is not reused once a file changed.
    const fp = modelFingerprint(opts.modelDir, { modelFile: opts.modelFile, chatTemplate: opts.chatTemplate });
    const cap = Math.min(model.modelMaxLength ?? 2048, model.maxPositions ?? 2048, 2048);
    if (opts.maxLength !== undefined && model.maxPositions !== null && opts.maxLength > model.maxPositions) {
      throw new ModelFolderError(
        `maxLength ${opts.maxLength} is longer than the model's ${model.maxPositions} positions (config.json max_position_embeddings); ` +
          `ONNX Runtime would fail on the first long item: set it to ${model.maxPositions} or less`,
      );
    }
    const maxLength = opts.maxLength ?? cap;
    if (!Number.isInteger(maxLength) || maxLength < 2) throw new ModelFolderError(`maxLength must be an integer >= 2, got ${maxLength}`);
    const batchTokens = opts.batchTokens ?? 8192;
    if (!Number.isInteger(batchTokens) || batchTokens < 1) throw new ModelFolderError(`batchTokens must be a positive integer, got ${batchTokens}`);
    const session = await cachedSession(
      {
        modelPath: model.modelPath,
        provider: opts.provider ?? 'cpu',
        deviceId: opts.deviceId ?? 0,
        threads: opts.threads ?? os.availableParallelism(),
      },
      fp.sha256,
    );
    const threads = opts.tokenizerThreads ?? defaultTokenizerThreads();
    const inputFormat = opts.inputFormat ?? 'auto';
    const pool =
      threads > 0
        ? cachedPool({ modelDir: opts.modelDir, modelFile: opts.modelFile, chatTemplate: opts.chatTemplate, maxLength, inputFormat }, threads, fp.sha256)
        : null;
    return new RewardScorer(model, new TextEncoder(model, maxLength, inputFormat), session, opts.rewardIndex, batchTokens, pool, fp);
  }

  /** Which logit is the reward, as far as known before the first batch ("auto": from the logits' count, for this model). */
  get rewardIndex(): number | 'auto' {
    if (this.rewardIndexOverride !== undefined) return this.rewardIndexOverride;
    return this.model.numLabels !== null ? defaultRewardIndex(this.model.numLabels) : 'auto';
  }

  encode(item: ScoreItem): Encoded {
    return this.encoder.encode(item.prompt, item.response);
  }

  /**
   * Many items at once: on the tokenization threads when there are any, else on this thread in
   * slices of ~20 ms between which the event loop runs (heartbeats, and workflow tasks in an
   * all-roles worker, never wait behind a window of thousands of long texts). An item that fails
   * comes back as its error.
   */
  async encodeMany(items: ScoreItem[]): Promise<(Encoded | Error)[]> {
    if (this.pool && items.length >= 64) return this.pool.encodeMany(items);
    const out: (Encoded | Error)[] = [];
    let slice = performance.now();
    for (const it of items) {
      try {
        out.push(this.encode(it));
      } catch (e) {
        out.push(e as Error);
      }
      if (performance.now() - slice > 20) {
        await new Promise((r) => setImmediate(r));
        slice = performance.now();
      }
    }
    return out;
  }

  plan(encoded: Encoded[]): number[][] {
    return planBatches(
      encoded.map((e) => e.ids.length),
      this.batchTokens,
    ).batches;
  }

  /** Rewards for the given items of one batch, in the order of `indices`. Non-finite logits come back as NaN. */
  async runBatch(encoded: Encoded[], indices: number[]): Promise<number[]> {
    const batch = padBatch(
      indices.map((i) => encoded[i].ids),
      this.model.padTokenId,
      indices.map((i) => encoded[i].typeIds),
    );
    const logits = await this.session.run(batch);
    const numLabels = this.model.numLabels ?? logits.numLabels;
    const idx = this.rewardIndexOverride ?? defaultRewardIndex(numLabels);
    if (idx < 0 || idx >= logits.numLabels) {
      throw new ModelFolderError(`reward index ${idx} is out of range: the model has ${logits.numLabels} logits per item`);
    }
    const out: number[] = [];
    for (let r = 0; r < logits.rows; r++) {
      const v = logits.data[r * logits.numLabels + idx];
      out.push(Number.isFinite(v) ? v : NaN);
    }
    return out;
  }
}

/** The text a reward model scores for a sample's output: a string, or the contents of its turns. */
export function responseText(output: unknown): string | null {
  if (typeof output === 'string') return output;
  if (Array.isArray(output) && output.every((t) => t && typeof t.content === 'string')) return output.map((t) => t.content).join('\n');
  return null;
}
