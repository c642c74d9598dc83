/**
 * Progress bars per stage for `alignloop status --watch` (rows per stage, items/s, ETA, in the
 * style of tqdm/rich), and plain lines when stdout is not a terminal. Pure: rendering and rates.
 */
import type { IterationStatus } from '../workflows/messages';

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

const ORDER = ['prompts', 'sample', 'score', 'feedback', 'train', 'manifest'];

/** One row per stage of the iteration in flight. */
export function stageRows(it: IterationStatus): StageRow[] {
  const at = ORDER.indexOf(it.stage);
  const finished = it.stage === 'done';
  const state = (i: number) => (finished || (at >= 0 && i < at) ? 'done' : i === at ? 'running' : 'waiting');
  return ORDER.map((stage, i) => {
    if (stage === 'sample' || stage === 'score') {
      const total = it.shardsTotal;
      // Pipelined iterations count both; older ones count the stage in flight only.
      const done =
        stage === 'sample'
          ? (it.sampled ?? (state(i) === 'done' ? total : i === at ? it.shardsDone : 0))
          : (it.labelled ?? (state(i) === 'done' ? total : i === at ? it.shardsDone : 0));
      const s = it.sampled !== undefined && stage === 'score' && done > 0 && done < total ? 'running' : state(i);
      return { stage: stage === 'score' ? 'label' : stage, done, total, state: done >= total && total > 0 ? 'done' : s };
    }
    return { stage, done: state(i) === 'done' ? 1 : 0, total: 1, state: state(i) };
  });
}

/** Rendered rows: bars for sharded stages, a state word for the others. */
export function renderRows(rows: StageRow[], rates: Map<string, Rate>): string[] {
  return rows.map((r) => {
    const name = r.stage.padEnd(8);
    if (r.total <= 1 && r.stage !== 'sample' && r.stage !== 'label') return `  ${name} ${r.state}`;
    const rate = rates.get(r.stage)?.perSecond() ?? null;
    const left = rate ? (r.total - r.done) / rate : null;
    const speed = rate ? `${rate.toFixed(2)} shards/s` : '-- shards/s';
    return `  ${name} ${bar(r.done, r.total)} ${String(r.done).padStart(String(r.total).length)}/${r.total} shards  ${speed}  ${r.state === 'done' ? 'done' : eta(left)}`;
  });
}
