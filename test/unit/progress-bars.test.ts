/** The rendering behind `alignloop status --watch`. */
import { bar, eta, Rate, renderRows, stageRows, trainRow } from '../../cli/progress-bars';
import { trainingProgressOf, trainingText } from '../../cli/training-progress';

test('bars, ETAs and rates', () => {
  expect(bar(0, 10, 10)).toBe('[----------]');
  expect(bar(5, 10, 10)).toBe('[#####-----]');
  expect(bar(12, 10, 10)).toBe('[##########]');
  expect(eta(null)).toBe('ETA --');
  expect(eta(42.4)).toBe('ETA 42s');
  expect(eta(125)).toBe('ETA 2m05s');
  expect(eta(7322)).toBe('ETA 2h02m');
  const r = new Rate();
  expect(r.perSecond()).toBeNull();
  r.observe(0, 0);
  r.observe(2000, 4);
  expect(r.perSecond()).toBeCloseTo(2, 9);
  r.observe(3000, 1); // a counter that went back: a new iteration, start over
  expect(r.perSecond()).toBeNull();
});

test('rows per stage for a pipelined iteration: sampling and labeling both advance', () => {
  const rows = stageRows({ iteration: 2, stage: 'sample', shardsDone: 6, shardsTotal: 10, sampled: 6, labelled: 3 });
  expect(rows.map((r) => [r.stage, r.done, r.total, r.state])).toEqual([
    ['prompts', 1, 1, 'done'],
    ['sample', 6, 10, 'running'],
    ['label', 3, 10, 'running'],
    ['feedback', 0, 1, 'waiting'],
    ['train', 0, 1, 'waiting'],
    ['manifest', 0, 1, 'waiting'],
  ]);
  const rates = new Map([['sample', new Rate()]]);
  rates.get('sample')!.observe(0, 2);
  rates.get('sample')!.observe(2000, 6);
  const text = renderRows(rows, rates);
  expect(text[1]).toMatch(/^ {2}sample {3}\[#{14}-{10}\] {2}6\/10 shards {2}2\.00 shards\/s {2}ETA 2s$/);
  expect(text[3]).toBe('  feedback waiting');
});

test('an iteration from before the pipeline (one stage counted at a time), and a finished one', () => {
  const old = stageRows({ iteration: 0, stage: 'score', shardsDone: 2, shardsTotal: 4 });
  expect(old.find((r) => r.stage === 'sample')).toMatchObject({ done: 4, state: 'done' });
  expect(old.find((r) => r.stage === 'label')).toMatchObject({ done: 2, state: 'running' });
  expect(stageRows({ iteration: 0, stage: 'done', shardsDone: 4, shardsTotal: 4, sampled: 4, labelled: 4 }).every((r) => r.state === 'done')).toBe(true);
});

test('after the shard stages, the shard counts stay (not the single later stage)', () => {
  const rows = stageRows({ iteration: 1, stage: 'train', shardsDone: 0, shardsTotal: 1, sampled: 8, labelled: 8 });
  expect(rows.find((r) => r.stage === 'sample')).toMatchObject({ done: 8, total: 8, state: 'done' });
  expect(rows.find((r) => r.stage === 'train')).toMatchObject({ state: 'running' });
  const old = stageRows({ iteration: 1, stage: 'train', shardsDone: 0, shardsTotal: 1 });
  expect(old.find((r) => r.stage === 'label')).toMatchObject({ total: 0, state: 'done' });
  expect(renderRows(old, new Map())[2]).toBe('  label    done');
});

describe('training progress from the train activity heartbeat', () => {
  test("the command trainer's steps and the built-in trainer's epochs, as status shows them", () => {
    const cmd = trainingProgressOf({ step: 7, total: 16, loss: 0.64123, rate: 0.52, unit: 'step', note: 'trainer running (pid 1)' })!;
    expect(trainingText(cmd)).toBe('step 7/16, loss 0.6412, 0.52 steps/s');
    const builtin = trainingProgressOf({ epoch: 12, epochs: 30, loss: 0.5, rate: 3 })!;
    expect(trainingText(builtin)).toBe('epoch 12/30, loss 0.5000, 3.00 epochs/s');
    expect(trainingText(trainingProgressOf({ step: 3, total: null, loss: null, rate: 0.02 })!)).toBe('step 3/?, 50.0 s/step');
    // Heartbeats that carry no training progress (the 1-second liveness beat, a sampler's counts).
    expect(trainingProgressOf(undefined)).toBeNull();
    expect(trainingProgressOf({ note: 'training', epochs: 30 })).toMatchObject({ total: 30 });
    expect(trainingProgressOf({ done: 3 })).toBeNull();
  });

  test('status --watch: the train row becomes a bar over the steps while the trainer reports them', () => {
    const it = { iteration: 0, stage: 'train', shardsDone: 0, shardsTotal: 2, sampled: 2, labelled: 2 } as unknown as Parameters<typeof stageRows>[0];
    const rows = renderRows(stageRows(it), new Map(), { step: 8, total: 16, loss: 0.6, rate: 2, unit: 'step' });
    expect(rows.find((r) => r.includes('train'))).toBe('  train    [############------------]  8/16 steps  2.00 steps/s  loss 0.6000  ETA 4s');
    expect(trainRow({ step: 8, total: null, loss: null, rate: null, unit: 'step' })).toBe('  train    8 steps  -- steps/s  ETA --');
  });
});

test('eval: an iteration that evaluates shows the eval stage after train; one that does not, no eval row', () => {
  const rows = stageRows({ iteration: 1, stage: 'eval', shardsDone: 0, shardsTotal: 1, sampled: 8, labelled: 8, evaluates: true });
  expect(rows.map((r) => [r.stage, r.state])).toEqual([
    ['prompts', 'done'],
    ['sample', 'done'],
    ['label', 'done'],
    ['feedback', 'done'],
    ['train', 'done'],
    ['eval', 'running'],
    ['manifest', 'waiting'],
  ]);
  expect(
    stageRows({ iteration: 1, stage: 'train', shardsDone: 0, shardsTotal: 1, sampled: 8, labelled: 8, evaluates: true }).find((r) => r.stage === 'eval'),
  ).toMatchObject({
    state: 'waiting',
  });
  expect(stageRows({ iteration: 1, stage: 'train', shardsDone: 0, shardsTotal: 1, sampled: 8, labelled: 8 }).map((r) => r.stage)).not.toContain('eval');
});
