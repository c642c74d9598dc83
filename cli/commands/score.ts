import { parseArgs } from 'node:util';
import { ModelFolderError } from '../../activities/score/model-folder';
import { scoreFile } from '../../activities/score/score-file';
import { RewardScorer } from '../../activities/score/scorer';
import { EXIT_USAGE, UserError } from '../errors';

export const SCORE_USAGE =
  'alignloop score --model DIR --in FILE --out FILE [--batch-tokens N] [--max-length N] [--threads N] [--provider cpu|cuda] [--device N] [--reward-index N]';

function intOpt(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UserError(`--${name} must be a non-negative integer, got "${v}"`, EXIT_USAGE);
  return n;
}

export async function scoreCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' }, in: { type: 'string' }, out: { type: 'string' }, 'batch-tokens': { type: 'string' },
      'max-length': { type: 'string' }, threads: { type: 'string' }, provider: { type: 'string' }, device: { type: 'string' },
      'reward-index': { type: 'string' }, quiet: { type: 'boolean' },
    },
    strict: true,
  });
  for (const req of ['model', 'in', 'out'] as const) if (!values[req]) throw new UserError(`missing --${req}; usage: ${SCORE_USAGE}`, EXIT_USAGE);
  const provider = (values.provider ?? 'cpu') as 'cpu' | 'cuda';
  if (provider !== 'cpu' && provider !== 'cuda') throw new UserError(`--provider must be cpu or cuda, got "${values.provider}"`, EXIT_USAGE);
  let scorer: RewardScorer;
  try {
    scorer = await RewardScorer.open({
      modelDir: values.model!, provider, deviceId: intOpt(values.device, 'device'), threads: intOpt(values.threads, 'threads'),
      batchTokens: intOpt(values['batch-tokens'], 'batch-tokens'), maxLength: intOpt(values['max-length'], 'max-length'),
      rewardIndex: intOpt(values['reward-index'], 'reward-index'),
    });
  } catch (e) {
    if (e instanceof ModelFolderError) throw new UserError(e.message, EXIT_USAGE);
    throw e;
  }
  let last = 0;
  const r = await scoreFile(scorer, values.in!, values.out!, (p) => {
    const now = Date.now();
    if (!values.quiet && process.stderr.isTTY && now - last > 200) {
      last = now;
      process.stderr.write(`\rscoring: batch ${p.batchesDone}/${p.batches}, ${p.itemsDone}/${p.items} items`);
    }
  });
  if (!values.quiet && process.stderr.isTTY) process.stderr.write('\n');
  const s = r.totalMs / 1000;
  process.stdout.write(
    `scored ${r.items} items (${r.labelled} labelled, ${r.nonFinite} non-finite) in ${s.toFixed(2)} s: ${(r.items / s).toFixed(0)} items/s, ${(r.tokens / s).toFixed(0)} tokens/s\n` +
      `batches ${r.batches}${r.batchesResumed ? ` (${r.batchesResumed} resumed from progress)` : ''}, truncated ${r.truncated}, ` +
      `templating+tokenization ${((100 * r.encodeMs) / r.totalMs).toFixed(1)}% of time (overlapped with inference)\n` +
      `wrote ${r.path} (sha256 ${r.sha256.slice(0, 12)}…)\n`,
  );
  return 0;
}
