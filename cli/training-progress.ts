/**
 * A trainer's progress as its activity heartbeats it: the command trainer's `{ step, total, loss, rate }`
 * (read from the trainer's log) and the built-in trainer's `{ epoch, epochs, loss, rate }`. Pure.
 */

export interface TrainingProgress {
  step: number | null;
  total: number | null;
  loss: number | null;
  /** Steps (or epochs) per second. */
  rate: number | null;
  unit: 'step' | 'epoch';
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The training progress in a heartbeat's details, or null when they hold none. */
export function trainingProgressOf(details: unknown): TrainingProgress | null {
  if (!details || typeof details !== 'object') return null;
  const d = details as Record<string, unknown>;
  const epochs = 'epochs' in d || 'epoch' in d;
  const p: TrainingProgress = epochs
    ? { step: num(d.epoch), total: num(d.epochs), loss: num(d.loss), rate: num(d.rate), unit: 'epoch' }
    : { step: num(d.step), total: num(d.total), loss: num(d.loss), rate: num(d.rate), unit: 'step' };
  return p.step === null && p.total === null && p.loss === null ? null : p;
}

/** `step 3/12, loss 0.6931, 0.50 steps/s` (what is known of it). */
export function trainingText(p: TrainingProgress): string {
  const parts: string[] = [];
  if (p.step !== null || p.total !== null) parts.push(`${p.unit} ${p.step ?? '-'}/${p.total ?? '?'}`);
  if (p.loss !== null) parts.push(`loss ${p.loss.toPrecision(4)}`);
  if (p.rate !== null) parts.push(p.rate >= 0.1 ? `${p.rate.toFixed(2)} ${p.unit}s/s` : `${(1 / p.rate).toFixed(1)} s/${p.unit}`);
  return parts.join(', ');
}
