/** `alignloop feedback build`: scored samples or judged pairs -> trainer files, no Temporal server needed. */
import { Command, InvalidArgumentError } from 'commander';
import * as fs from 'node:fs';
import { isJudgedPair, JudgedPairCollector, readJudgedPairs } from '../../activities/feedback/judged-pairs';
import { buildFeedback, FeedbackOptions, FeedbackStats, ThresholdRule } from '../../activities/feedback/build';
import { readScoredSamples } from '../../activities/feedback/files';
import { FEEDBACK_FORMATS, FeedbackFormat, formatFile } from '../../activities/feedback/formats';
import { writeFileAtomic } from '../../activities/artifacts/atomic-file';
import { EXIT, UserError } from '../../config/errors';
import { exitWith, info, integer, oneOf, out } from '../context';

function parseThreshold(v: string): ThresholdRule {
  if (v === 'mean' || v === 'median') return v;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`must be a number, mean or median, got "${v}"`);
  return n;
}

export function formatStats(s: FeedbackStats): string {
  const f = (x: number | null | undefined) => (x === null || x === undefined ? '-' : Number.isInteger(x) ? String(x) : x.toFixed(4));
  const unl =
    Object.entries(s.unlabelled)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ') || '0';
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
    lines.push(
      `examples out ${s.examples_out} from ${s.prompts_out} prompts` +
        (s.type === 'binary' ? `, desirable/undesirable ${s.label_balance.desirable_or_a}/${s.label_balance.undesirable_or_b}` : ''),
    );
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
  if (opts.type !== 'pairwise') throw new UserError(`${file} holds judged pairs (a pairwise judge's output): use --type pairwise`, EXIT.usage);
  if (opts.mode !== undefined || opts.threshold !== undefined)
    throw new UserError(`${file} holds judged pairs: the judge already chose and decided the pairs; drop --mode and --threshold`, EXIT.usage);
  const c = new JudgedPairCollector(opts.seed ?? 0);
  await readJudgedPairs(file, c);
  return c.finish();
}

interface BuildOptions {
  in: string;
  out: string;
  type: FeedbackOptions['type'];
  format: FeedbackFormat;
  mode?: FeedbackOptions['mode'];
  threshold?: ThresholdRule;
  perPrompt?: boolean;
  seed?: number;
  allowEmpty?: boolean;
  json?: boolean;
}

async function build(o: BuildOptions): Promise<number> {
  const opts: FeedbackOptions = { type: o.type, mode: o.mode, threshold: o.threshold, thresholdScope: o.perPrompt ? 'prompt' : undefined, seed: o.seed };
  const { examples, stats } = (await firstRecordIsJudgedPair(o.in))
    ? await fromJudgedPairs(o.in, opts)
    : buildFeedback((await readScoredSamples(o.in)).groups, opts);
  out(o.json ? JSON.stringify(stats, null, 2) : formatStats(stats));
  if (stats.empty_reason && !o.allowEmpty) {
    info(`alignloop: ${stats.empty_reason}; nothing written to ${o.out} (pass --allow-empty to write an empty file)`);
    return EXIT.emptyResult;
  }
  const written = writeFileAtomic(o.out, formatFile(examples, o.format));
  if (!o.json)
    out(
      `wrote ${stats.examples_out} ${stats.type === 'pairwise' ? 'pairs' : 'examples'} to ${written.path} (${written.bytes} bytes, sha256 ${written.sha256.slice(0, 12)}…)`,
    );
  return 0;
}

export function registerFeedbackCommand(program: Command): void {
  const feedback = program.command('feedback').description('feedback files for trainers (HALOs, TRL, native JSONL), no Temporal server needed');
  feedback
    .command('build')
    .description("turn scored samples (or a pairwise judge's judged pairs) into pairwise, binary or scalar feedback")
    .requiredOption('--in <file>', 'scored samples (JSONL or a JSON array) or judged pairs (JSONL)')
    .requiredOption('--out <file>', 'output file (written atomically)')
    .requiredOption('--type <type>', 'pairwise, binary or scalar', oneOf(['pairwise', 'binary', 'scalar'] as const))
    .requiredOption('--format <format>', FEEDBACK_FORMATS.join(', '), oneOf(FEEDBACK_FORMATS))
    .option('--mode <mode>', 'pairwise: random, max or min', oneOf(['random', 'max', 'min'] as const))
    .option('--threshold <x>', 'pairwise: minimum reward gap; binary: a number, mean or median', parseThreshold)
    .option('--per-prompt', 'binary: mean/median threshold per prompt')
    .option('--seed <n>', 'seed for random pairing and the A/B swap', integer)
    .option('--allow-empty', 'write an empty file instead of exiting 3')
    .option('--json', 'statistics as JSON')
    .action((o: BuildOptions) => exitWith(build(o)));
}
