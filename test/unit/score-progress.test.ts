import * as fs from 'node:fs';
import * as path from 'node:path';
import { closeCachedSessions } from '../../activities/score/ort-session';
import { scoreFile } from '../../activities/score/score-file';
import { RewardScorer, ScorerOptions } from '../../activities/score/scorer';
import { MODELS, quickstartSamples, tmpDir, writeJsonl } from '../helpers/paths';

jest.setTimeout(120000);
afterAll(closeCachedSessions);

/** The quickstart model's tokenizer with other weights: the same batch plan, other rewards. */
const BENCH_RM = path.join(path.dirname(MODELS.decoder), 'bench-rm');

const rewardsOf = (file: string) =>
  fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).reward as number);

const open = (modelDir: string, more: Partial<ScorerOptions> = {}) =>
  RewardScorer.open({ modelDir, batchTokens: 128, threads: 1, tokenizerThreads: 0, ...more });

/** Scores until `batches` batches are persisted, then dies the way a killed worker leaves it: a progress file, no output. */
async function interrupted(scorer: RewardScorer, input: string, out: string, batches = 3): Promise<number> {
  await expect(
    scoreFile(scorer, input, out, (p) => {
      if (p.batchesDone === batches) throw new Error('killed');
    }),
  ).rejects.toThrow('killed');
  expect(fs.existsSync(out)).toBe(false);
  return fs.readFileSync(`${out}.progress`, 'utf8').trim().split('\n').length - 1;
}

/** A private copy of a model folder (its files are swapped in the tests). */
function folderOf(src: string): string {
  const dir = path.join(tmpDir('alignloop-model-'), 'rm');
  fs.cpSync(src, dir, { recursive: true });
  return dir;
}

describe('a resumed scoring run never mixes rewards', () => {
  let dir: string;
  let input: string;
  let reference: { a: number[]; b: number[] };
  beforeAll(async () => {
    dir = tmpDir('alignloop-progress-');
    input = path.join(dir, 'in.jsonl');
    writeJsonl(input, quickstartSamples(12));
    await scoreFile(await open(MODELS.bt), input, path.join(dir, 'ref-a.jsonl'));
    await scoreFile(await open(BENCH_RM), input, path.join(dir, 'ref-b.jsonl'));
    reference = { a: rewardsOf(path.join(dir, 'ref-a.jsonl')), b: rewardsOf(path.join(dir, 'ref-b.jsonl')) };
    expect(reference.a).not.toEqual(reference.b);
  });

  test('the progress of the same input, model and settings is reused', async () => {
    const out = path.join(dir, 'same.jsonl');
    const kept = await interrupted(await open(MODELS.bt), input, out);
    expect(kept).toBeGreaterThanOrEqual(3);
    const r = await scoreFile(await open(MODELS.bt), input, out);
    expect(r.batchesResumed).toBe(kept);
    expect(r.progressDiscarded).toBeNull();
    expect(rewardsOf(out)).toEqual(reference.a);
  });

  test('killed with model A, resumed with model B on the same output (same folder, weights swapped): all of it is B', async () => {
    const model = folderOf(MODELS.bt);
    const out = path.join(dir, 'swapped.jsonl');
    expect(await interrupted(await open(model), input, out)).toBeGreaterThanOrEqual(3);
    fs.copyFileSync(path.join(BENCH_RM, 'model.onnx'), path.join(model, 'model.onnx'));
    const r = await scoreFile(await open(model), input, out);
    expect(r.batchesResumed).toBe(0);
    expect(r.progressDiscarded).toMatch(/swapped\.jsonl\.progress: the reward model changed since it was written; scoring from the start/);
    expect(rewardsOf(out)).toEqual(reference.b);
  });

  test('a session cached in this process is not reused once the model file at its path changed', async () => {
    const model = folderOf(MODELS.bt);
    await scoreFile(await open(model), input, path.join(dir, 'cached-1.jsonl'));
    expect(rewardsOf(path.join(dir, 'cached-1.jsonl'))).toEqual(reference.a);
    fs.copyFileSync(path.join(BENCH_RM, 'model.onnx'), path.join(model, 'model.onnx'));
    await scoreFile(await open(model), input, path.join(dir, 'cached-2.jsonl'));
    expect(rewardsOf(path.join(dir, 'cached-2.jsonl'))).toEqual(reference.b);
  });

  test('another reward index or chat template starts the file again', async () => {
    const out = path.join(dir, 'index.jsonl');
    await interrupted(await open(MODELS.bt, { rewardIndex: 0 }), input, out);
    const r = await scoreFile(await open(MODELS.bt, { rewardIndex: 1 }), input, out);
    expect(r.batchesResumed).toBe(0);
    expect(r.progressDiscarded).toMatch(/the reward index changed/);
    expect(rewardsOf(out)).toEqual(reference.a); // index 1 is the quickstart model's default

    const template = path.join(dir, 'plain.jinja');
    fs.writeFileSync(template, '{% for m in messages %}{{ m.content }}\n{% endfor %}');
    const out2 = path.join(dir, 'template.jsonl');
    await interrupted(await open(MODELS.bt, { chatTemplate: template }), input, out2);
    fs.writeFileSync(template, '{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}');
    const r2 = await scoreFile(await open(MODELS.bt, { chatTemplate: template }), input, out2);
    expect(r2.batchesResumed).toBe(0);
    expect(r2.progressDiscarded).toMatch(/the reward model, the chat template changed/);
  });

  test('a progress file is not reused after its input file changed', async () => {
    const own = path.join(dir, 'own-in.jsonl');
    fs.copyFileSync(input, own);
    const out = path.join(dir, 'edited-input.jsonl');
    await interrupted(await open(MODELS.bt), own, out);
    const records = fs
      .readFileSync(own, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    records[0].output = `${records[0].output} (edited)`;
    writeJsonl(own, records);
    const r = await scoreFile(await open(MODELS.bt), own, out);
    expect(r.batchesResumed).toBe(0);
    expect(r.progressDiscarded).toMatch(/the input file changed/);
    const fresh = path.join(dir, 'edited-fresh.jsonl');
    await scoreFile(await open(MODELS.bt), own, fresh);
    expect(rewardsOf(out)).toEqual(rewardsOf(fresh));
  });
});
