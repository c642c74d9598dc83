import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { isJudgedPair, JudgedPairCollector, readJudgedPairs } from '../../activities/feedback/judged-pairs';
import { buildFeedback, FeedbackOptions, FeedbackStats, ThresholdRule } from '../../activities/feedback/build';
import { readScoredSamples } from '../../activities/feedback/files';
import { FEEDBACK_FORMATS, FeedbackFormat, formatFile } from '../../activities/feedback/formats';
import { writeFileAtomic } from '../../activities/artifacts/atomic-file';
import { EXIT_EMPTY_RESULT, EXIT_USAGE, UserError } from '../errors';

export const FEEDBACK_USAGE = `alignloop feedback build --in FILE --type pairwise|binary|scalar --format halos|trl|jsonl --out FILE
    [--mode random|max|min] [--threshold X|mean|median] [--per-prompt] [--seed N] [--allow-empty] [--json]`;

function parseThreshold(v: string | undefined): ThresholdRule | undefined {
  if (v === undefined) return undefined;
  if (v === 'mean' || v === 'median') return v;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new UserError(`--threshold must be a number, mean or median, got "${v}"`, EXIT_USAGE);
  return n;
}

export function formatStats(s: FeedbackStats): string {
  const f = (x: number | null | undefined) => (x === null || x === undefined ? '-' : Number.isInteger(x) ? String(x) : x.toFixed(4));
  const unl = Object.entries(s.unlabelled).map(([k, v]) => `${k}=${v}`).join(', ') || '0';
  const lines = [
    `type ${s.type}${s.mode ? ` (mode ${s.mode})` : ''}, threshold ${s.threshold_rule}${s.threshold !== null ? ` = ${f(s.threshold)}` : ''}, seed ${s.seed}`,
    `prompts in ${s.prompts_in}, samples in ${s.samples_in}, labelled ${s.labelled}, unlabelled ${unl}, non-finite ${s.non_finite}`,
  ];
  if (s.type === 'pairwise') {
    lines.push(
      `prompts skipped (<2 labelled) ${s.prompts_skipped_too_few_labelled}, prompts dropped by threshold ${s.prompts_dropped_by_threshold}, ` +
        `pairs dropped by threshold ${s.pairs_dropped_by_threshold}, unpaired (odd) ${s.samples_unpaired_odd}`,
      `pairs out ${s.examples_out} from ${s.prompts_out} prompts, label 1/0 ${s.label_balance.desirable_or_a}/${s.label_balance.undesirable_or_b}, ` +
        `swapped ${s.swapped}, mean chosen-rejected margin ${f(s.mean_margin)}`,
    );
  } else {
    lines.push(`examples out ${s.examples_out} from ${s.prompts_out} prompts` + (s.type === 'binary' ? `, desirable/undesirable ${s.label_balance.desirable_or_a}/${s.label_balance.undesirable_or_b}` : ''));
  }
  if (s.judge_pairs) {
    const j = s.judge_pairs;
    lines.push(`judged pairs ${j.pairs}: decided ${j.decided}, ties ${j.ties}, inconsistent across orders ${j.inconsistent}`);
  }
  if (s.reward) lines.push(`reward mean ${f(s.reward.mean)} std ${f(s.reward.std)} min ${f(s.reward.min)} max ${f(s.reward.max)}`);
  for (const n of s.notes) lines.push(`note: ${n}`);
  return lines.join('\n');
}

async function firstRecordIsJudgedPair(file: string): Promise<boolean> {
  if (!fs.existsSync(file) || fs.statSync(file).isDirectory()) return false; // readScoredSamples says what is wrong
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(1 << 16);
    const text = buf.toString('utf8', 0, fs.readSync(fd, buf, 0, buf.length, 0));
    const first = text.split('\n').find((l) => l.trim());
    return first !== undefined && isJudgedPair(JSON.parse(first));
  } catch {
    return false;
  } finally {
    fs.closeSync(fd);
  }
}

/** A pairwise judge's output is feedback already: only the format (and the A/B swap seed) is chosen here. */
async function fromJudgedPairs(file: string, opts: FeedbackOptions) {
  if (opts.type !== 'pairwise') throw new UserError(`${file} holds judged pairs (a pairwise judge's output): use --type pairwise`, EXIT_USAGE);
  if (opts.mode !== undefined || opts.threshold !== undefined) throw new UserError(`${file} holds judged pairs: the judge already chose and decided the pairs; drop --mode and --threshold`, EXIT_USAGE);
  const c = new JudgedPairCollector(opts.seed ?? 0);
  await readJudgedPairs(file, c);
  return c.finish();
}

export async function feedbackCommand(argv: string[]): Promise<number> {
  if (argv[0] !== 'build') throw new UserError(`usage: ${FEEDBACK_USAGE}`, EXIT_USAGE);
  const { values } = parseArgs({
    args: argv.slice(1),
    options: {
      in: { type: 'string' }, out: { type: 'string' }, type: { type: 'string' }, format: { type: 'string' },
      mode: { type: 'string' }, threshold: { type: 'string' }, 'per-prompt': { type: 'boolean' }, seed: { type: 'string' },
      'allow-empty': { type: 'boolean' }, json: { type: 'boolean' },
    },
    strict: true,
  });
  for (const req of ['in', 'out', 'type', 'format'] as const) {
    if (!values[req]) throw new UserError(`missing --${req}; usage: ${FEEDBACK_USAGE}`, EXIT_USAGE);
  }
  const format = values.format as FeedbackFormat;
  if (!FEEDBACK_FORMATS.includes(format)) throw new UserError(`--format must be one of ${FEEDBACK_FORMATS.join(', ')}, got "${values.format}"`, EXIT_USAGE);
  const seed = values.seed === undefined ? undefined : Number(values.seed);
  if (seed !== undefined && !Number.isSafeInteger(seed)) throw new UserError(`--seed must be an integer, got "${values.seed}"`, EXIT_USAGE);
  const opts: FeedbackOptions = {
    type: values.type as FeedbackOptions['type'],
    mode: values.mode as FeedbackOptions['mode'],
    threshold: parseThreshold(values.threshold),
    thresholdScope: values['per-prompt'] ? 'prompt' : undefined,
    seed,
  };
  const { examples, stats } = (await firstRecordIsJudgedPair(values.in!)) ? await fromJudgedPairs(values.in!, opts) : buildFeedback((await readScoredSamples(values.in!)).groups, opts);
  if (values.json) process.stdout.write(JSON.stringify(stats, null, 2) + '\n');
  else process.stdout.write(formatStats(stats) + '\n');
  if (stats.empty_reason && !values['allow-empty']) {
    process.stderr.write(`alignloop: ${stats.empty_reason}; nothing written to ${values.out} (pass --allow-empty to write an empty file)\n`);
    return EXIT_EMPTY_RESULT;
  }
  const written = writeFileAtomic(values.out!, formatFile(examples, format));
  if (!values.json) process.stdout.write(`wrote ${stats.examples_out} ${stats.type === 'pairwise' ? 'pairs' : 'examples'} to ${written.path} (${written.bytes} bytes, sha256 ${written.sha256.slice(0, 12)}…)\n`);
  return 0;
}
