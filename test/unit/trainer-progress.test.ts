/**
 * Progress read from real trainer logs: TRL 1.16 / transformers 5.17 (DPO, KTO and a run resumed from
 * checkpoint-8/) captured on a GPU machine with alignloop's trl preset argv (test/fixtures/trainer-logs/).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { completeText, emptyProgress, readProgress, StepRate, TrainProgress } from '../../activities/trainers/progress';
import { layoutProblems } from '../../activities/policy/checkpoint-layout';

const fixtures = path.join(__dirname, '..', '..', '..', 'test', 'fixtures');
const log = (name: string) => fs.readFileSync(path.join(fixtures, 'trainer-logs', name), 'utf8');

/** Feeds the text the way the supervisor reads a growing log: in arbitrary pieces, keeping cut redraws for later. */
function readInPieces(text: string, sizes: number[]): { final: TrainProgress; seen: TrainProgress[] } {
  let p = emptyProgress();
  let pending = '';
  const seen: TrainProgress[] = [];
  for (let at = 0, i = 0; at < text.length; i++) {
    const n = sizes[i % sizes.length];
    const r = completeText(pending, text.slice(at, at + n));
    at += n;
    p = readProgress(p, r.text);
    pending = r.rest;
    seen.push(p);
  }
  return { final: readProgress(p, pending), seen };
}

describe('trainer progress from real TRL logs', () => {
  it('DPO: the training bar and the per-step loss, not the loading/tokenizing/saving bars nor train_loss', () => {
    const p = readProgress(emptyProgress(), log('trl-1.16-dpo.log'));
    expect(p).toMatchObject({ step: 16, total: 16, firstLoss: 0.6931, loss: 0.6283 });
  });

  it('KTO: 64 steps (KTO starts at loss 0.5)', () => {
    expect(readProgress(emptyProgress(), log('trl-1.16-kto.log'))).toMatchObject({ step: 64, total: 64, firstLoss: 0.5 });
  });

  it('read in pieces as the log grows: the same result, and never another bar than the training one', () => {
    const text = log('trl-1.16-dpo.log');
    for (const sizes of [[1], [7, 13], [100, 3, 4096], [text.length]]) {
      const { final, seen } = readInPieces(text, sizes);
      expect(final).toEqual(readProgress(emptyProgress(), text));
      for (const s of seen) expect([null, 16]).toContain(s.total);
      const steps = seen.map((s) => s.step ?? 0);
      expect(steps).toEqual([...steps].sort((a, b) => a - b)); // a cut redraw never reads as a smaller step
    }
  });

  it('a run resumed from checkpoint-8/ starts counting past 8', () => {
    const { seen } = readInPieces(log('trl-1.16-dpo-resumed.head.log'), [50]);
    const first = seen.find((s) => (s.step ?? 0) > 0)!; // tqdm draws 0/400 first, then jumps to the resumed step
    expect(first.total).toBe(400);
    expect(first.step).toBeGreaterThanOrEqual(9);
  });

  it('older transformers (numbers unquoted) and OpenRLHF-style bars with a loss postfix', () => {
    const hf = readProgress(emptyProgress(), "{'loss': 0.6931, 'learning_rate': 5e-05, 'epoch': 0.06}\n{'loss': 6.1e-01, 'epoch': 0.12}\n");
    expect(hf).toMatchObject({ firstLoss: 0.6931, loss: 0.61 });
    const orlhf = readProgress(
      emptyProgress(),
      'Train epoch:   0%|          | 0/1 [00:00<?, ?it/s]\rTrain step of epoch 0:  45%|████▌     | 9/20 [00:03<00:04, 2.50it/s, loss=0.693, acc=0.5]\r',
    );
    expect(orlhf).toMatchObject({ step: 9, total: 20, loss: 0.693 });
    expect(readProgress(emptyProgress(), "{'eval_loss': 0.5, 'train_loss': 0.4}\n").loss).toBeNull();
  });
});

describe('trainer progress from real HALOs logs', () => {
  // Captured from HALOs 4831988 with its own pins (torch 2.4.0, transformers 4.51.3) on CPU, run by
  // alignloop's halos preset on the tiny Llama (test/fixtures/trainer-logs/halos-4831988-*.log).
  it("DPO: `Total training steps`, each `train stats after N steps` line's 'loss/train' (not the eval loss), a step HALOs skipped logging", () => {
    // Steps 1-3 logged; step 4 only as `skipping logging after 8 examples` (2 examples a step).
    expect(readProgress(emptyProgress(), log('halos-4831988-dpo.log'))).toMatchObject({ step: 4, total: 4, firstLoss: 0.69315, loss: 0.66133 });
  });

  it('KTO on binary feedback: HALOs prints `Total training steps: 0` (its unpaired loader counts pairs): total unknown, not 0', () => {
    expect(readProgress(emptyProgress(), log('halos-4831988-kto.log'))).toMatchObject({ step: 8, total: null, firstLoss: 0.5, loss: 0.48059 });
  });

  it('GRPO: negative losses, steps between logged ones read from the skipped lines', () => {
    const { seen } = readInPieces(log('halos-4831988-grpo.log'), [64]);
    expect(seen.at(-1)).toMatchObject({ step: 8, total: 8, firstLoss: -0.27496, loss: -0.28543 });
    expect(new Set(seen.map((p) => p.step).filter((x) => x !== null))).toEqual(new Set([1, 2, 3, 4, 5, 6, 7, 8]));
  });

  it('read in pieces: the same result, steps never going back', () => {
    for (const name of ['halos-4831988-dpo.log', 'halos-4831988-kto.log', 'halos-4831988-grpo.log']) {
      const text = log(name);
      for (const sizes of [[1], [7, 13], [100, 3, 4096]]) {
        const { final, seen } = readInPieces(text, sizes);
        expect(final).toEqual(readProgress(emptyProgress(), text));
        const steps = seen.map((s) => s.step ?? 0);
        expect(steps).toEqual([...steps].sort((a, b) => a - b));
      }
    }
  });
});

describe('step rate', () => {
  it('steps per second since the first step seen; none before two observations', () => {
    const r = new StepRate();
    expect(r.perSecond()).toBeNull();
    r.observe(1000, null);
    r.observe(2000, 8); // a resumed run starts past 0
    expect(r.perSecond()).toBeNull();
    r.observe(4000, 9);
    r.observe(6000, 12);
    expect(r.perSecond()).toBeCloseTo(1, 6);
  });
});

describe('a real HALOs output folder (FINAL/)', () => {
  it('is a valid checkpoint layout: pytorch_model.bin, tokenizer, config', () => {
    expect(layoutProblems(path.join(fixtures, 'checkpoints', 'halos-4831988-dpo-FINAL'))).toEqual([]);
  });
});

describe('a real TRL output folder', () => {
  it('is a valid checkpoint layout (transformers 5 writes the chat template as chat_template.jinja)', () => {
    const dir = path.join(fixtures, 'checkpoints', 'trl-1.16-dpo');
    expect(layoutProblems(dir)).toEqual([]);
    expect(fs.existsSync(path.join(dir, 'chat_template.jinja'))).toBe(true);
  });
});
