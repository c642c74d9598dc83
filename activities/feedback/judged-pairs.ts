/**
 * Pairwise judge output -> pairwise feedback directly: every decided pair becomes one example (label
 * from the judge's verdict, rewards = the judge's scores when it gave them). Ties, inconsistent
 * verdicts and unlabelled pairs are dropped and counted, never guessed. As in buildFeedback, A/B
 * output order is swapped with probability 0.5 (seeded) so trainers that read A/B see no position.
 */
import { seededRng } from './rng';
import { forEachJsonLine } from '../artifacts/json-lines';
import { zeroStats, type FeedbackStats, type PairExample } from './build';
import { validateRecord } from './scored-samples';
import { InputError } from '../../config/errors';

/** A line of a judged-pairs file (written by the pairwise judge). */
export function isJudgedPair(raw: unknown): boolean {
  const r = raw as Record<string, unknown> | null;
  return !!r && typeof r === 'object' && Array.isArray(r.sample_ids) && Array.isArray(r.outputs) && 'winner' in r;
}

export function emptyJudgeStats(seed: number): FeedbackStats {
  return { ...zeroStats('pairwise', 'judge', seed), threshold_rule: 'judge verdict', judge_pairs: { pairs: 0, decided: 0, ties: 0, inconsistent: 0 } };
}

/** Collects judged pairs from one or more files into examples and statistics. */
export class JudgedPairCollector {
  readonly examples: PairExample[] = [];
  readonly stats: FeedbackStats;
  private readonly rng;
  private readonly prompts = new Set<string>();
  private readonly promptsOut = new Set<string>();
  private readonly samples = new Set<string>();
  private marginSum = 0;
  private margins = 0;

  constructor(seed: number) {
    this.stats = emptyJudgeStats(seed);
    this.rng = seededRng(seed);
  }

  add(raw: unknown, file: string, line: number): void {
    if (!isJudgedPair(raw)) throw new InputError(file, line, 'not a judged pair (needs sample_ids, outputs and winner)', 'pass the output of a pairwise judge');
    const r = raw as {
      prompt_id: string;
      prompt: unknown;
      sample_ids: number[];
      outputs: unknown[];
      winner: string | null;
      label_status: string;
      scores: [number, number] | null;
      iteration?: number;
      presented?: unknown;
      verdicts?: unknown;
    };
    const jp = this.stats.judge_pairs!;
    const s = this.stats;
    jp.pairs++;
    this.prompts.add(r.prompt_id);
    for (const id of r.sample_ids) this.samples.add(`${r.prompt_id}\u0000${id}`);
    if (r.label_status === 'tie') jp.ties++;
    else if (r.label_status === 'inconsistent') jp.inconsistent++;
    else if (r.winner !== 'x' && r.winner !== 'y') s.unlabelled[r.label_status] = (s.unlabelled[r.label_status] ?? 0) + 1;
    if (r.winner !== 'x' && r.winner !== 'y') return;
    jp.decided++;
    const side = (k: 0 | 1) =>
      validateRecord(
        {
          prompt_id: r.prompt_id,
          sample_id: r.sample_ids[k],
          prompt: r.prompt,
          output: r.outputs[k],
          reward: r.scores ? r.scores[k] : null,
          label_status: r.scores ? 'ok' : 'no_judge_score',
          ...(typeof r.iteration === 'number' ? { iteration: r.iteration } : {}),
        },
        file,
        line,
        r.sample_ids[k],
      );
    const [x, y] = [side(0), side(1)];
    const swapped = this.rng.next() < 0.5;
    const [a, b] = swapped ? [y, x] : [x, y];
    const aWins = (r.winner === 'x') !== swapped;
    const ex: PairExample = {
      kind: 'pair',
      prompt_id: r.prompt_id,
      prompt: x.prompt,
      a,
      b,
      label: aWins ? 1 : 0,
      swapped,
      threshold: null,
      audit: { judge_presented: r.presented ?? null, judge_verdicts: r.verdicts ?? null },
    };
    if (swapped) s.swapped++;
    if (ex.label === 1) s.label_balance.desirable_or_a++;
    else s.label_balance.undesirable_or_b++;
    if (r.scores) {
      this.marginSum += Math.abs(r.scores[0] - r.scores[1]);
      this.margins++;
    }
    this.promptsOut.add(r.prompt_id);
    this.examples.push(ex);
  }

  finish(): { examples: PairExample[]; stats: FeedbackStats } {
    const s = this.stats;
    const jp = s.judge_pairs!;
    s.prompts_in = this.prompts.size;
    s.samples_in = this.samples.size;
    s.labelled = jp.decided;
    s.prompts_out = this.promptsOut.size;
    s.examples_out = this.examples.length;
    s.mean_margin = this.margins ? this.marginSum / this.margins : null;
    if (jp.ties || jp.inconsistent) s.notes.push(`${jp.ties} ties and ${jp.inconsistent} inconsistent verdicts (orders disagreed) dropped`);
    if (this.examples.length === 0) {
      const unl = Object.values(s.unlabelled).reduce((a, b) => a + b, 0);
      s.empty_reason = `0 pairs: none of the ${jp.pairs} judged pairs was decided (${jp.ties} ties, ${jp.inconsistent} inconsistent, ${unl} unlabelled)`;
    }
    return { examples: this.examples, stats: s };
  }
}

export async function readJudgedPairs(file: string, collector: JudgedPairCollector): Promise<void> {
  await forEachJsonLine(file, (raw, line) => collector.add(raw, file, line));
}
