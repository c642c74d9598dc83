/**
 * `alignloop diff`: two iterations side by side, from their manifests and feedback files: reward
 * distribution shift, label balance, examples kept and dropped by reason, chosen-vs-rejected length
 * (length bias), judge order-consistency where both orders were judged, and cost.
 */
import * as fs from 'node:fs';
import { UserError } from '../../config/errors';
import { forEachJsonLine } from '../artifacts/json-lines';
import { manifestFile, readCheckedManifest } from './manifests';

export interface IterationFigures {
  iteration: number;
  reward: { mean: number | null; std: number | null; p10: number | null; p50: number | null; p90: number | null; n: number };
  /** Mean over prompts of the best labelled reward among the prompt's samples (best-of-n). */
  bestOfN: number | null;
  examples: number;
  labelBalance: { desirable_or_a: number; undesirable_or_b: number };
  dropped: Record<string, number>;
  length: { chosen: number | null; rejected: number | null; chosenLongerShare: number | null };
  judge: { pairs: number; decided: number; ties: number; inconsistent: number; orderConsistency: number | null } | null;
  cost: { usd: number; paidCalls: number };
  /** Composite labeler only: agreement of every two members, length bias of the combined reward, gate outcomes. */
  composite?: {
    agreement: { a: string; b: string; agreement: number | null; spearman: number | null }[];
    length: { corrBefore: number | null; corrAfter: number | null };
    gate: { failed: number };
    notAsked: Record<string, number>;
  } | null;
}

export interface DiffRow {
  metric: string;
  a: number | null;
  b: number | null;
  change: number | null;
}

const quantile = (sorted: number[], q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : null);
const mean = (v: number[]) => (v.length ? v.reduce((s, x) => s + x, 0) / v.length : null);
const textOf = (o: unknown): string =>
  typeof o === 'string' ? o : Array.isArray(o) ? o.map((t) => (t && typeof t.content === 'string' ? t.content : '')).join('\n') : '';

export async function iterationFigures(root: string, campaignId: string, iteration: number): Promise<IterationFigures> {
  const file = manifestFile(root, campaignId, iteration);
  if (!fs.existsSync(file)) throw new UserError(`campaign ${campaignId} has no finished iteration ${iteration} (no ${file})`, 2);
  const m = readCheckedManifest(file);
  const rewards: number[] = [];
  const best = new Map<string, number>();
  for (const ref of m.artifacts.scored as { path: string }[]) {
    await forEachJsonLine(ref.path, (raw) => {
      const r = raw as { reward?: unknown; label_status?: string; prompt_id?: string };
      if (typeof r.reward === 'number' && Number.isFinite(r.reward) && r.label_status === 'ok') {
        rewards.push(r.reward);
        const k = String(r.prompt_id);
        best.set(k, Math.max(best.get(k) ?? -Infinity, r.reward));
      }
    });
  }
  const sorted = [...rewards].sort((x, y) => x - y);
  const mu = mean(rewards);
  const chosen: number[] = [];
  const rejected: number[] = [];
  let longer = 0;
  if (m.artifacts.feedback?.jsonl) {
    await forEachJsonLine(m.artifacts.feedback.jsonl.path, (raw) => {
      const r = raw as { type?: string; label?: number; output_A?: unknown; output_B?: unknown };
      if (r.type !== 'pairwise_feedback') return;
      const [c, j] = r.label === 1 ? [r.output_A, r.output_B] : [r.output_B, r.output_A];
      chosen.push(textOf(c).length);
      rejected.push(textOf(j).length);
      if (textOf(c).length > textOf(j).length) longer++;
    });
  }
  const s = m.feedback;
  const jp = m.judged_pairs as { pairs: number; decided: number; ties: number; inconsistent: number } | undefined;
  return {
    iteration,
    reward: {
      mean: mu,
      std: mu === null ? null : Math.sqrt(mean(rewards.map((x) => (x - mu) ** 2))!),
      p10: quantile(sorted, 0.1),
      p50: quantile(sorted, 0.5),
      p90: quantile(sorted, 0.9),
      n: rewards.length,
    },
    bestOfN: mean([...best.values()]),
    examples: s.examples_out,
    labelBalance: s.label_balance,
    dropped: {
      ...Object.fromEntries(Object.entries(s.unlabelled as Record<string, number>).map(([k, v]) => [`unlabelled: ${k}`, v])),
      non_finite: s.non_finite,
      pairs_below_threshold: s.pairs_dropped_by_threshold,
      ...Object.fromEntries(
        Object.entries((s.pairs_dropped_by_disagreement ?? {}) as Record<string, number>).map(([k, v]) => [`pairs members disagree on: ${k}`, v]),
      ),
      prompts_all_below_threshold: s.prompts_dropped_by_threshold,
      prompts_too_few_labelled: s.prompts_skipped_too_few_labelled,
      samples_unpaired_odd: s.samples_unpaired_odd,
      ...Object.fromEntries(Object.entries((m.counts.samples_dropped ?? {}) as Record<string, number>).map(([k, v]) => [`samples dropped: ${k}`, v])),
      ...Object.fromEntries(Object.entries((m.counts.samples_failed ?? {}) as Record<string, number>).map(([k, v]) => [`samples failed: ${k}`, v])),
    },
    length: { chosen: mean(chosen), rejected: mean(rejected), chosenLongerShare: chosen.length ? longer / chosen.length : null },
    judge: jp ? { ...jp, orderConsistency: jp.decided + jp.inconsistent > 0 ? jp.decided / (jp.decided + jp.inconsistent) : null } : null,
    cost: { usd: m.cost?.judge_usd ?? 0, paidCalls: m.cost?.paid_calls ?? 0 },
    composite: (m as { composite?: IterationFigures['composite'] }).composite ?? null,
  };
}

export function diffRows(a: IterationFigures, b: IterationFigures): DiffRow[] {
  const row = (metric: string, x: number | null | undefined, y: number | null | undefined): DiffRow => ({
    metric,
    a: x ?? null,
    b: y ?? null,
    change: x === null || x === undefined || y === null || y === undefined ? null : y - x,
  });
  const rows = [
    row('reward mean', a.reward.mean, b.reward.mean),
    row('reward std', a.reward.std, b.reward.std),
    row('reward p10', a.reward.p10, b.reward.p10),
    row('reward median', a.reward.p50, b.reward.p50),
    row('reward p90', a.reward.p90, b.reward.p90),
    row('best-of-n reward (mean over prompts)', a.bestOfN, b.bestOfN),
    row('labelled samples', a.reward.n, b.reward.n),
    row('examples', a.examples, b.examples),
    row('label desirable / A', a.labelBalance.desirable_or_a, b.labelBalance.desirable_or_a),
    row('label undesirable / B', a.labelBalance.undesirable_or_b, b.labelBalance.undesirable_or_b),
    row('chosen length (chars)', a.length.chosen, b.length.chosen),
    row('rejected length (chars)', a.length.rejected, b.length.rejected),
    row('share of pairs where chosen is longer', a.length.chosenLongerShare, b.length.chosenLongerShare),
  ];
  for (const k of [...new Set([...Object.keys(a.dropped), ...Object.keys(b.dropped)])].sort())
    rows.push(row(`dropped: ${k}`, a.dropped[k] ?? 0, b.dropped[k] ?? 0));
  if (a.judge || b.judge) {
    rows.push(row('judge order consistency', a.judge?.orderConsistency, b.judge?.orderConsistency));
    rows.push(row('judge ties', a.judge?.ties, b.judge?.ties));
  }
  rows.push(row('judge cost (USD)', a.cost.usd, b.cost.usd), row('paid judge calls', a.cost.paidCalls, b.cost.paidCalls));
  if (a.composite || b.composite) rows.push(...compositeRows(a.composite ?? null, b.composite ?? null, row));
  return rows;
}

function compositeRows(
  a: IterationFigures['composite'],
  b: IterationFigures['composite'],
  row: (metric: string, x: number | null | undefined, y: number | null | undefined) => DiffRow,
): DiffRow[] {
  const pairs = [...new Set([...(a?.agreement ?? []), ...(b?.agreement ?? [])].map((p) => `${p.a}-${p.b}`))];
  const find = (c: IterationFigures['composite'], k: string) => c?.agreement.find((p) => `${p.a}-${p.b}` === k);
  const members = [...new Set([...Object.keys(a?.notAsked ?? {}), ...Object.keys(b?.notAsked ?? {})])].sort();
  return [
    ...pairs.flatMap((k) => [
      row(`members ${k}: pairwise agreement`, find(a, k)?.agreement, find(b, k)?.agreement),
      row(`members ${k}: rank correlation`, find(a, k)?.spearman, find(b, k)?.spearman),
    ]),
    row('length-reward correlation (before length control)', a?.length.corrBefore, b?.length.corrBefore),
    row('length-reward correlation (after length control)', a?.length.corrAfter, b?.length.corrAfter),
    row('samples a gate failed', a?.gate.failed, b?.gate.failed),
    ...members.map((m) => row(`${m}: samples not asked (gate)`, a?.notAsked[m], b?.notAsked[m])),
  ];
}
