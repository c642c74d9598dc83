/**
 * Training progress read from a trainer's log: HF Trainer's `{'loss': 0.69, …, 'epoch': 0.5}` lines
 * (transformers 5 / TRL 1.x print the values quoted: `{'loss': '0.6931', …}`), tqdm postfixes
 * (`loss=0.693`, OpenRLHF) and the training bar (`45%|████▌     | 9/20 [00:03<00:04, 2.50it/s]`).
 * Pure.
 *
 * HALOs (launch.py, train/trainers.py) prints `Total training steps: N` once and, per logged step,
 * `train stats after N steps: {'loss/train': '0.69315', …, 'counters/examples': 2*N, …}` (values formatted
 * as strings), or, when it logged less than a second ago, `skipping logging after M examples`.
 *
 * Real trainer logs hold other tqdm bars too (`Loading weights: … 20/20 [`, `Tokenizing train dataset:
 * … 64/64 [`, `Writing model shards: … 1/1 [`): only the training bar is progress. HF Trainer's bar
 * has no description; OpenRLHF's step bar is `Train step of epoch N`, its epoch bar `Train epoch`.
 */

export interface TrainProgress {
  step: number | null;
  total: number | null;
  loss: number | null;
  firstLoss: number | null;
  lines: number;
  /** HALOs: examples per optimizer step (its stats lines count both), to read the steps it skips logging. */
  examplesPerStep: number | null;
}

export function emptyProgress(): TrainProgress {
  return { step: null, total: null, loss: null, firstLoss: null, lines: 0, examplesPerStep: null };
}

const NUMBER = String.raw`-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?`;
/** `'loss': 0.69` or `'loss': '0.69'` (not train_loss, the run's mean, nor eval_loss). */
const DICT_LOSS = new RegExp(String.raw`['"]loss['"]\s*:\s*['"]?(${NUMBER})`);
/** HALOs: `'loss/train': '0.69315'`. */
const HALOS_LOSS = new RegExp(String.raw`['"]loss/train['"]\s*:\s*['"]?(${NUMBER})`);
const HALOS_STEP = /train stats after (\d+) steps:.*['"]counters\/examples['"]:\s*(\d+)/;
/** HALOs logs at most once per minimum_log_interval_secs; the steps between say this instead. */
const HALOS_SKIPPED = /^skipping logging after (\d+) examples/;
const HALOS_TOTAL = /^Total training steps: (\d+)\s*$/;
/** tqdm postfix `…, loss=0.693, acc=0.5]`. */
const POSTFIX_LOSS = new RegExp(String.raw`(?:^|[\s,\[])loss=(${NUMBER})`);
/** A tqdm bar: its description (text since the segment's start or the previous bar's `]`), n and total. */
const BAR = /(?:^|\])([^\]|]*?)\s*\d{1,3}%\|[^|]*\|\s*(\d+)\/(\d+)\s*\[/g;
const OTHER_BAR = /load|token|writ|sav|map|filter|generat|drop|shard|dataset|download|prepar|convert|eval|process|comput/i;

function isTrainingBar(description: string): boolean {
  const d = description.trim();
  if (!d || d.endsWith('}')) return true;
  if (/epoch/i.test(d) && !/step/i.test(d)) return false;
  return !OTHER_BAR.test(d);
}

/** Folds a chunk of log text (complete lines or tqdm redraws) into the progress. */
export function readProgress(p: TrainProgress, text: string): TrainProgress {
  const out = { ...p };
  // tqdm redraws with carriage returns: each redraw counts as a line.
  for (const line of text.split(/\r?\n|\r/)) {
    if (!line.trim()) continue;
    out.lines++;
    const total = HALOS_TOTAL.exec(line);
    // HALOs' unpaired loaders count pairs: on binary feedback they print 0 (unknown, not zero steps).
    if (total && Number(total[1]) > 0) out.total = Number(total[1]);
    const step = HALOS_STEP.exec(line);
    if (step) {
      out.step = Number(step[1]);
      if (out.step > 0) out.examplesPerStep = Number(step[2]) / out.step;
    }
    const skipped = HALOS_SKIPPED.exec(line);
    if (skipped && out.examplesPerStep) {
      const n = Number(skipped[1]) / out.examplesPerStep;
      if (Number.isInteger(n) && n > (out.step ?? 0)) out.step = n;
    }
    const l = DICT_LOSS.exec(line) ?? HALOS_LOSS.exec(line) ?? POSTFIX_LOSS.exec(line);
    if (l) {
      out.loss = Number(l[1]);
      if (out.firstLoss === null) out.firstLoss = out.loss;
    }
    for (const m of line.matchAll(BAR)) {
      const [step, total] = [Number(m[2]), Number(m[3])];
      if (total > 0 && step <= total && isTrainingBar(m[1])) Object.assign(out, { step, total });
    }
  }
  return out;
}

/** Splits what was read from a growing log into complete redraws and a tail to keep for the next read. */
export function completeText(pending: string, chunk: string): { text: string; rest: string } {
  const all = pending + chunk;
  const end = Math.max(all.lastIndexOf('\n'), all.lastIndexOf('\r'));
  return end < 0 ? { text: '', rest: all } : { text: all.slice(0, end + 1), rest: all.slice(end + 1) };
}

/** Steps per second since the first step this attempt saw (a resumed run starts counting past 0). */
export class StepRate {
  private first: { at: number; step: number } | null = null;
  private last: { at: number; step: number } | null = null;
  observe(at: number, step: number | null): void {
    if (step === null) return;
    if (!this.first || step < this.first.step) this.first = { at, step };
    if (!this.last || step !== this.last.step) this.last = { at, step };
  }
  perSecond(): number | null {
    if (!this.first || !this.last || this.last.at <= this.first.at) return null;
    return ((this.last.step - this.first.step) * 1000) / (this.last.at - this.first.at);
  }
}
