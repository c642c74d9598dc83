/**
 * Training progress read from a trainer's log: HF Trainer's `{'loss': 0.69, …, 'epoch': 0.5}` lines
 * and tqdm bars (`45%|████▌     | 9/20 [00:03<00:04, 2.50it/s]`). Pure.
 */

export interface TrainProgress {
  step: number | null;
  total: number | null;
  loss: number | null;
  firstLoss: number | null;
  lines: number;
}

export function emptyProgress(): TrainProgress {
  return { step: null, total: null, loss: null, firstLoss: null, lines: 0 };
}

const LOSS = /['"](?:train_)?loss['"]\s*:\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)/;
const TQDM = /(\d+)\/(\d+)\s*\[/g;

/** Folds a chunk of log text (complete lines) into the progress. */
export function readProgress(p: TrainProgress, text: string): TrainProgress {
  const out = { ...p };
  // tqdm redraws with carriage returns: each redraw counts as a line.
  for (const line of text.split(/\r?\n|\r/)) {
    if (!line.trim()) continue;
    out.lines++;
    const l = LOSS.exec(line);
    if (l) {
      out.loss = Number(l[1]);
      if (out.firstLoss === null) out.firstLoss = out.loss;
    }
    for (const m of line.matchAll(TQDM)) {
      const [step, total] = [Number(m[1]), Number(m[2])];
      if (total > 0 && step <= total) Object.assign(out, { step, total });
    }
  }
  return out;
}
