/** `alignloop judge`: LLM-judge labeling of a samples file, no Temporal server needed. */
import type { Command } from 'commander';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { registerSecret } from '../../config/redact';
import { exitWith, positiveNumber } from '../context';
import { printable } from '../terminal-text';

interface JudgeOptions {
  budget?: number;
  in: string;
  out: string;
  config: string;
  cacheDir?: string;
  limiterDir?: string;
  quiet?: boolean;
}

async function judge(o: JudgeOptions): Promise<number> {
  const { loadJudgeConfigWithBudget } = await import('../../activities/judge/config-file');
  const { config, budgetUsd } = loadJudgeConfigWithBudget(o.config);
  const budget = o.budget ?? budgetUsd;
  const { judgeFile } = await import('../../activities/judge/judge-file');
  const { judgeFileViaBatch } = await import('../../activities/judge/batch');
  const { STATE_DIR } = await import('../../workers/connection');
  const apiKey = process.env[config.apiKeyEnv];
  registerSecret(apiKey);
  if (!apiKey) process.stderr.write(printable(`alignloop: $${config.apiKeyEnv} is not set; calling ${config.baseURL} without an API key`) + '\n');
  let last = 0;
  const cacheDir = o.cacheDir ?? path.join(STATE_DIR(), 'judge-cache');
  // Spend is booked per output file, so a rerun after a crash counts what the first run bought.
  const budgetScope =
    budget === null
      ? {}
      : {
          budget: {
            dir: path.join(path.dirname(path.resolve(cacheDir)), 'judge-budget'),
            scope: `run-${createHash('sha256').update(path.resolve(o.out)).digest('hex').slice(0, 16)}`,
            limitUsd: budget,
          },
          budgetHint: 'run it again with a higher --budget (or budget: in the config)',
        };
  const opts = {
    config,
    apiKey: apiKey || 'none',
    cacheDir,
    ...budgetScope,
    limiterDir: o.limiterDir ?? path.join(STATE_DIR(), 'judge-limiter'),
    onProgress: (p: { done: number; items: number }) => {
      if (!o.quiet && process.stderr.isTTY && Date.now() - last > 200) {
        last = Date.now();
        process.stderr.write(`\rjudging: ${p.done}/${p.items}`);
      }
    },
    onStatus: (b: { status: string; completed: number; failed: number; total: number }) => {
      if (!o.quiet) process.stderr.write(printable(`batch ${b.status}: ${b.completed} done, ${b.failed} failed of ${b.total}`) + '\n');
    },
  };
  const r = config.batch.enabled ? await judgeFileViaBatch(o.in, o.out, opts) : await judgeFile(o.in, o.out, opts);
  if (!o.quiet && process.stderr.isTTY) process.stderr.write('\n');
  const s = r.totalMs / 1000;
  const unl =
    Object.entries(r.unlabelled)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ') || '0';
  const p = r.pairStats;
  const pct = (x: number | null) => (x === null ? '-' : `${(x * 100).toFixed(0)}%`);
  process.stdout.write(
    printable(
      (p
        ? `judged ${p.pairs} pairs of ${r.samples} samples in ${s.toFixed(1)} s: ${p.decided} decided, ${p.ties} ties, ${p.inconsistent} inconsistent across orders, unlabelled ${unl}\n` +
          `length check: winners ${p.lengths.winner_mean_chars?.toFixed(0) ?? '-'} chars vs losers ${p.lengths.loser_mean_chars?.toFixed(0) ?? '-'}; the longer answer won ${pct(p.lengths.longer_won_share)}\n`
        : `judged ${r.items} items in ${s.toFixed(1)} s: ${r.labelled} labelled, unlabelled ${unl}\n`) +
        `paid calls ${r.paidCalls}, cache hits ${r.cacheHits} (from ${path.resolve(cacheDir)}), 429s ${r.rateLimited}, ` +
        `tokens ${r.promptTokens}+${r.completionTokens}, cost $${r.costUsd.toFixed(4)}${r.estimatedCalls ? ` (estimated: ${r.estimatedCalls} replies carried no usage; upper bounds)` : ''}\n` +
        `paid calls without a label ${r.paidUnlabelled}; retries after a lost reply (may have paid twice) ${r.paidRetries}\n` +
        (r.delimiterSamples ? `${r.delimiterSamples} samples held the template's own delimiters (neutralised before judging)\n` : '') +
        `template sha256 ${r.templateSha256.slice(0, 12)}…; wrote ${r.path}\n`,
    ),
  );
  return 0;
}

export function registerJudgeCommand(program: Command): void {
  program
    .command('judge')
    .description('label a samples file with an LLM judge (pointwise or pairwise, online or Batch API), no Temporal server needed')
    .requiredOption('--in <file>', 'samples JSONL')
    .requiredOption('--out <file>', 'judged samples (or judged pairs) JSONL')
    .requiredOption('--config <file>', 'judge config YAML: a campaign `labeler` block, or the block alone')
    .option('--cache-dir <dir>', 'judgement cache (default .alignloop/judge-cache)')
    .option('--limiter-dir <dir>', 'shared rate-limiter state (default .alignloop/judge-limiter)')
    .option('--budget <usd>', 'stop buying judgements at this spend (also `budget:` in the config); a rerun continues within it', positiveNumber)
    .option('--quiet', 'no progress on stderr')
    .action((o: JudgeOptions) => exitWith(judge(o)));
}
