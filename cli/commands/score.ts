/** `alignloop score`: reward-model scoring of a samples file, no Temporal server needed. */
import type { Command } from 'commander';
import { exitWith, nonNegativeInt, oneOf } from '../context';
import { printable } from '../terminal-text';

interface ScoreOptions {
  model: string;
  in: string;
  out: string;
  batchTokens?: number;
  maxLength?: number;
  threads?: number;
  provider: 'cpu' | 'cuda';
  device?: number;
  rewardIndex?: number;
  chatTemplate?: string;
  tokenizerThreads?: number;
  inputFormat?: 'auto' | 'pair';
  quiet?: boolean;
  modelFile?: string;
}

async function score(o: ScoreOptions): Promise<number> {
  const { RewardScorer } = await import('../../activities/score/scorer');
  const { ENCODE_WINDOW, scoreFile } = await import('../../activities/score/score-file');
  const scorer = await RewardScorer.open({
    modelDir: o.model,
    provider: o.provider,
    deviceId: o.device,
    threads: o.threads,
    batchTokens: o.batchTokens,
    maxLength: o.maxLength,
    modelFile: o.modelFile,
    rewardIndex: o.rewardIndex,
    chatTemplate: o.chatTemplate,
    tokenizerThreads: o.tokenizerThreads,
    inputFormat: o.inputFormat,
  });
  let last = 0;
  if (!o.quiet)
    process.stderr.write(`model ${o.model}: fingerprint ${scorer.fingerprint.sha256.slice(0, 12)} (${Object.keys(scorer.fingerprint.files).length} files)\n`);
  const r = await scoreFile(scorer, o.in, o.out, (p) => {
    const now = Date.now();
    if (!o.quiet && process.stderr.isTTY && now - last > 200) {
      last = now;
      process.stderr.write(`\rscoring: batch ${p.batchesDone}/${p.batches}, ${p.itemsDone}/${p.items} items`);
    }
  });
  if (!o.quiet && process.stderr.isTTY) process.stderr.write('\n');
  if (r.progressDiscarded) process.stderr.write(`note: ${r.progressDiscarded}\n`);
  const s = r.totalMs / 1000;
  process.stdout.write(
    printable(
      `scored ${r.items} items (${r.labelled} labelled, ${r.nonFinite} non-finite${Object.entries(r.failed)
        .map(([k, n]) => `, ${n} ${k}`)
        .join('')}) in ${s.toFixed(2)} s: ${(r.items / s).toFixed(0)} items/s, ${(r.tokens / s).toFixed(0)} tokens/s\n` +
        `batches ${r.batches}${r.batchesResumed ? ` (${r.batchesResumed} resumed from progress)` : ''}, truncated ${r.truncated}, ` +
        `templating+tokenization ${((100 * r.encodeMs) / r.totalMs).toFixed(1)}% of time (overlapped with inference after the first ${ENCODE_WINDOW} records)\n` +
        `wrote ${r.path} (sha256 ${r.sha256.slice(0, 12)}…)\n`,
    ),
  );
  if (scorer.model.padNote) process.stderr.write(printable(`note: ${scorer.model.padNote}`) + '\n');
  return 0;
}

export function registerScoreCommand(program: Command): void {
  program
    .command('score')
    .description('score a samples file with an exported reward model (ONNX), no Temporal server needed')
    .requiredOption('--model <dir>', 'reward-model folder (model.onnx, tokenizer.json, tokenizer_config.json)')
    .requiredOption('--in <file>', 'samples JSONL')
    .requiredOption('--out <file>', 'scored samples JSONL (written atomically)')
    .option('--batch-tokens <n>', 'padded tokens per batch', nonNegativeInt)
    .option('--max-length <n>', 'truncate conversations to this many tokens', nonNegativeInt)
    .option('--threads <n>', 'ONNX Runtime intra-op threads', nonNegativeInt)
    .option('--model-file <file>', 'the ONNX graph inside the folder when it is not model.onnx, onnx/model.onnx or the only .onnx file')
    .option('--provider <name>', 'execution provider: cpu or cuda', oneOf(['cpu', 'cuda'] as const), 'cpu')
    .option('--device <n>', 'CUDA device id', nonNegativeInt)
    .option('--reward-index <n>', 'which logit is the reward (default: 0 for one label, 1 for two)', nonNegativeInt)
    .option('--tokenizer-threads <n>', 'threads that render and tokenize (default: none below 4 cores, else half the cores up to 8)', nonNegativeInt)
    .option('--chat-template <t>', "default (what transformers uses), one of the folder's named templates, or a .jinja file")
    .option(
      '--input-format <f>',
      'auto: the chat template, else the plain format; pair: prompt and response as a sentence pair, as encoder reward models are called (tokenizer(question, answer))',
      oneOf(['auto', 'pair'] as const),
      'auto',
    )
    .option('--quiet', 'no progress on stderr')
    .action((o: ScoreOptions) => exitWith(score(o)));
}
