/** How campaigns look in a terminal: the live progress line, the per-iteration table, failure causes. */
import type { IterationSummary } from '../activities/types';
import type { CampaignStatus, IterationStatus } from '../workflows/messages';
import { TrainingProgress, trainingText } from './training-progress';

export function progressLine(s: Omit<CampaignStatus, 'summaries'>, it: IterationStatus | null, training: TrainingProgress | null = null): string {
  const spend =
    s.budgetUsd !== null || s.spentUsd > 0 ? `, spent $${s.spentUsd.toFixed(4)}${s.budgetUsd !== null ? ` of $${s.budgetUsd.toFixed(4)}` : ''}` : '';
  const base = `[${s.campaignId}] ${s.state}${s.pauseReason ? ` (${s.pauseReason})` : ''}: ${s.completed}/${s.iterations} iterations done${spend}`;
  if (!it) return base;
  const train = it.stage === 'train' && training ? trainingText(training) : '';
  return `${base}; iteration ${it.iteration}: ${it.stage}${it.shardsTotal > 1 ? ` (shards ${it.shardsDone}/${it.shardsTotal})` : ''}${train ? ` (${train})` : ''}`;
}

function fmt(x: number | null, d = 4): string {
  return x === null || x === undefined ? '-' : x.toFixed(d);
}

export function summaryTable(rows: IterationSummary[]): string {
  const withCost = rows.some((r) => (r.costUsd ?? 0) > 0);
  const withLag = rows.some((r) => r.policyLag);
  const evaluated = rows.filter((r) => r.eval);
  const best = evaluated.length ? (evaluated[evaluated.length - 1].eval!.best?.bestIteration ?? null) : null;
  const header = [
    'iter',
    'prompts',
    'samples',
    'labelled',
    'pairs/examples',
    'reward mean',
    'checkpoint',
    'wall s',
    ...(withCost ? ['cost $'] : []),
    ...(withLag ? ['lag'] : []),
    ...(evaluated.length ? EVAL_HEADER : []),
  ];
  const body = rows.map((r) => [
    `${best === r.iteration ? '*' : ''}${r.iteration}`,
    String(r.prompts),
    String(r.samples),
    String(r.labelled),
    String(r.examples),
    fmt(r.rewardMean),
    r.checkpointSha256.slice(0, 12),
    r.wallSeconds.toFixed(1),
    ...(withCost ? [(r.costUsd ?? 0).toFixed(4)] : []),
    ...(withLag ? [lagText(r.policyLag)] : []),
    ...(evaluated.length ? evalCells(r.eval) : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join('  ');
  const notes = rows.filter((r) => r.emptyReason).map((r) => `iteration ${r.iteration}: ${r.emptyReason}; training skipped`);
  if (best !== null) notes.push(`* best checkpoint by eval ${evaluated[evaluated.length - 1].eval!.best!.by}: iteration ${best}`);
  return [line(header), ...body.map(line), ...notes].join('\n');
}

/** Versions behind the checkpoint an iteration trained from: "1", or "0-1" when its shards differ. */
function lagText(l: IterationSummary['policyLag']): string {
  if (!l) return '0';
  return l.min === l.max ? String(l.max) : `${l.min}-${l.max}`;
}

const EVAL_HEADER = ['eval win [95% CI]', 'LC win', 'eval reward', 'eval len', 'trunc'];

/** An evaluated iteration's cells (win rates against the baseline, the initial policy's answers). */
function evalCells(e: IterationSummary['eval']): string[] {
  if (!e) return EVAL_HEADER.map(() => '');
  const ci = e.winRateCi ? ` [${fmt(e.winRateCi[0], 3)}, ${fmt(e.winRateCi[1], 3)}]` : '';
  return [`${fmt(e.winRate, 3)}${ci}`, fmt(e.lcWinRate, 3), fmt(e.rewardMean), fmt(e.meanLength, 1), fmt(e.truncatedShare, 3)];
}

/** "Child Workflow execution failed" says nothing: follow the causes down to the one a user can act on. */
export function rootCause(e: unknown): string {
  const chain: string[] = [];
  let cur = e as (Error & { cause?: unknown }) | undefined;
  while (cur && chain.length < 10) {
    if (cur.message) chain.push(cur.message);
    cur = cur.cause as (Error & { cause?: unknown }) | undefined;
  }
  return chain.length > 1 ? `${chain[chain.length - 1]} (via: ${chain.slice(0, -1).join(' <- ')})` : (chain[0] ?? String(e));
}
