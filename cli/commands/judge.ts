import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { JudgeConfig, JudgeConfigSchema } from '../../activities/judge/config';
import { judgeFile, JudgeConfigError, JudgeSystemicError } from '../../activities/judge/judge-file';
import { judgeFileViaBatch } from '../../activities/judge/batch';
import { STATE_DIR } from '../../workers/connection';
import { EXIT_USAGE, UserError } from '../errors';

export const JUDGE_USAGE = 'alignloop judge --in FILE --out FILE --config JUDGE.yaml [--cache-dir DIR] [--limiter-dir DIR]';

export function loadJudgeConfig(file: string): JudgeConfig {
  let raw: unknown;
  try {
    raw = parseYaml(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UserError(`${file}: ${(e as Error).message.split('\n')[0]}`, EXIT_USAGE);
  }
  const obj = (raw as { labeler?: unknown })?.labeler ?? raw;
  const r = JudgeConfigSchema.safeParse(obj);
  if (!r.success) {
    throw new UserError(`${file}: ${r.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`).join('; ')}`, EXIT_USAGE);
  }
  if (r.data.template) r.data.template = path.resolve(path.dirname(file), r.data.template);
  return r.data;
}

export async function judgeCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { in: { type: 'string' }, out: { type: 'string' }, config: { type: 'string' }, 'cache-dir': { type: 'string' }, 'limiter-dir': { type: 'string' }, quiet: { type: 'boolean' } },
  });
  for (const req of ['in', 'out', 'config'] as const) if (!values[req]) throw new UserError(`missing --${req}; usage: ${JUDGE_USAGE}`, EXIT_USAGE);
  const config = loadJudgeConfig(values.config!);
  const apiKey = process.env[config.apiKeyEnv];
  if (!apiKey) process.stderr.write(`alignloop: $${config.apiKeyEnv} is not set; calling ${config.baseURL} without an API key\n`);
  let last = 0;
  try {
    const opts = {
      config, apiKey: apiKey || 'none',
      cacheDir: values['cache-dir'] ?? path.join(STATE_DIR(), 'judge-cache'),
      limiterDir: values['limiter-dir'] ?? path.join(STATE_DIR(), 'judge-limiter'),
      onProgress: (p: { done: number; items: number }) => {
        if (!values.quiet && process.stderr.isTTY && Date.now() - last > 200) {
          last = Date.now();
          process.stderr.write(`\rjudging: ${p.done}/${p.items}`);
        }
      },
      onStatus: (b: { status: string; completed: number; failed: number; total: number }) => {
        if (!values.quiet) process.stderr.write(`batch ${b.status}: ${b.completed} done, ${b.failed} failed of ${b.total}\n`);
      },
    };
    const r = config.batch.enabled ? await judgeFileViaBatch(values.in!, values.out!, opts) : await judgeFile(values.in!, values.out!, opts);
    if (!values.quiet && process.stderr.isTTY) process.stderr.write('\n');
    const s = r.totalMs / 1000;
    const unl = Object.entries(r.unlabelled).map(([k, v]) => `${k}=${v}`).join(', ') || '0';
    const p = r.pairStats;
    const pct = (x: number | null) => (x === null ? '-' : `${(x * 100).toFixed(0)}%`);
    process.stdout.write(
      (p
        ? `judged ${p.pairs} pairs of ${r.samples} samples in ${s.toFixed(1)} s: ${p.decided} decided, ${p.ties} ties, ${p.inconsistent} inconsistent across orders, unlabelled ${unl}\n` +
          `length check: winners ${p.lengths.winner_mean_chars?.toFixed(0) ?? '-'} chars vs losers ${p.lengths.loser_mean_chars?.toFixed(0) ?? '-'}; the longer answer won ${pct(p.lengths.longer_won_share)}\n`
        : `judged ${r.items} items in ${s.toFixed(1)} s: ${r.labelled} labelled, unlabelled ${unl}\n`) +
        `paid calls ${r.paidCalls}, cache hits ${r.cacheHits}, 429s ${r.rateLimited}, tokens ${r.promptTokens}+${r.completionTokens}, cost $${r.costUsd.toFixed(4)}\n` +
        `template sha256 ${r.templateSha256.slice(0, 12)}…; wrote ${r.path}\n`,
    );
    return 0;
  } catch (e) {
    if (e instanceof JudgeConfigError) throw new UserError(e.message, EXIT_USAGE);
    if (e instanceof JudgeSystemicError) throw new UserError(e.message, 1);
    throw e;
  }
}
