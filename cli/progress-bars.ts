/**
 * Progress bars per stage for `alignloop status --watch` (rows per stage, items/s, ETA, in the
 * style of tqdm/rich), and plain lines when stdout is not a terminal. Pure: rendering and rates.
 */
import type { IterationStatus } from '../workflows/messages';
import type { TrainingProgress } from './training-progress';

export function bar(done: number, total: number, width = 24): string {
  const f = total > 0 ? Math.min(1, done / total) : 0;
  const full = Math.floor(f * width);
  return `[${'#'.repeat(full)}${'-'.repeat(width - full)}]`;
}

export function eta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return 'ETA --';
  const s = Math.max(0, Math.round(seconds));
  return s >= 3600
    ? `ETA ${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
    : s >= 60
      ? `ETA ${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
      : `ETA ${s}s`;
}

/** Items per second from successive observations of a counter (the last `window` seconds). */
export class Rate {
  private points: [number, number][] = [];
  constructor(private readonly windowMs = 30_000) {}
  observe(at: number, count: number): void {
    if (this.points.length && count < this.points[this.points.length - 1][1]) this.points = []; // a new iteration
    this.points.push([at, count]);
    while (this.points.length > 2 && at - this.points[0][0] > this.windowMs) this.points.shift();
  }
  perSecond(): number | null {
    if (this.points.length < 2) return null;
    const [t0, c0] = this.points[0];
    const [t1, c1] = this.points[this.points.length - 1];
    return t1 > t0 && c1 > c0 ? ((c1 - c0) * 1000) / (t1 - t0) : null;
  }
}

export interface StageRow {
  stage: string;
  done: number;
  total: number;
  /** waiting | running | done */
  state: string;
}

const STAGES = ['prompts', 'sample', 'score', 'feedback', 'train', 'manifest'];
/** An iteration that evaluates its checkpoint (eval:) has the eval stage after train. */
const STAGES_WITH_EVAL = ['prompts', 'sample', 'score', 'feedback', 'train', 'eval', 'manifest'];

/** One row per stage of the iteration in flight. */
export function stageRows(it: IterationStatus): StageRow[] {
  const ORDER = it.evaluates || it.stage === 'eval' ? STAGES_WITH_EVAL : STAGES;
  const at = ORDER.indexOf(it.stage);
  const finished = it.stage === 'done';
  const state = (i: number) => (finished || (at >= 0 && i < at) ? 'done' : i === at ? 'running' : 'waiting');
  // Once the shard stages are over, shardsTotal counts the later (single-step) stage: the shard
  // count is what was sampled (pipelined iterations record it; older ones do not, total 0).
  const pastShards = finished || at > ORDER.indexOf('score');
  const shards = pastShards ? Math.max(it.sampled ?? 0, it.labelled ?? 0) : it.shardsTotal;
  return ORDER.map((stage, i) => {
    if (stage === 'sample' || stage === 'score') {
      const name = stage === 'score' ? 'label' : stage;
      if (pastShards) return { stage: name, done: shards, total: shards, state: 'done' };
      const counted = stage === 'sample' ? it.sampled : it.labelled;
      // Pipelined iterations count both stages; older ones count the stage in flight only.
      const done = counted ?? (state(i) === 'done' ? shards : i === at ? it.shardsDone : 0);
      const running = it.sampled !== undefined && stage === 'score' && done > 0 && done < shards ? 'running' : state(i);
      return { stage: name, done, total: shards, state: done >= shards && shards > 0 ? 'done' : running };
    }
    return { stage, done: state(i) === 'done' ? 1 : 0, total: 1, state: state(i) };
  });
}

/** The train row while a trainer reports its steps: a bar over steps (or epochs), the loss and the rate. */
export function trainRow(p: TrainingProgress): string {
  const name = 'train'.padEnd(8);
  const unit = `${p.unit}s`;
  const count = p.total !== null ? `${String(p.step ?? 0).padStart(String(p.total).length)}/${p.total} ${unit}` : `${p.step ?? '-'} ${unit}`;
  const speed = p.rate !== null ? `${p.rate.toFixed(2)} ${unit}/s` : `-- ${unit}/s`;
  const left = p.rate && p.total !== null && p.step !== null ? (p.total - p.step) / p.rate : null;
  const loss = p.loss !== null ? `  loss ${p.loss.toPrecision(4)}` : '';
  return `  ${name} ${p.total !== null ? `${bar(p.step ?? 0, p.total)} ` : ''}${count}  ${speed}${loss}  ${eta(left)}`;
}

/** Rendered rows: bars for sharded stages (and training steps, when known), a state word for the others. */
export function renderRows(rows: StageRow[], rates: Map<string, Rate>, training: TrainingProgress | null = null): string[] {
  return rows.map((r) => {
    if (r.stage === 'train' && r.state === 'running' && training) return trainRow(training);
    const name = r.stage.padEnd(8);
    if (r.total <= 0 || (r.total <= 1 && r.stage !== 'sample' && r.stage !== 'label')) return `  ${name} ${r.state}`;
    const rate = rates.get(r.stage)?.perSecond() ?? null;
    const left = rate ? (r.total - r.done) / rate : null;
    const speed = rate ? `${rate.toFixed(2)} shards/s` : '-- shards/s';
    return `  ${name} ${bar(r.done, r.total)} ${String(r.done).padStart(String(r.total).length)}/${r.total} shards  ${speed}  ${r.state === 'done' ? 'done' : eta(left)}`;
  });
}
