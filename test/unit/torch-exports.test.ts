/**
 * Rewards from real exports (transformers models through torch.onnx.export, as people export them)
 * against the PyTorch forward passes of the same models: scripts/build_torch_exports.py wrote the
 * models and the golden rewards (test/fixtures/exports/); this test needs no torch.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { closeCachedSessions } from '../../activities/score/ort-session';
import { RewardScorer } from '../../activities/score/scorer';
import { ROOT } from '../helpers/paths';

jest.setTimeout(60000);
afterAll(closeCachedSessions);

const DIR = path.join(ROOT, 'test', 'fixtures', 'exports');
type Golden = Record<string, { prompt: { role: string; content: string }[]; response: string; reward: number }[]>;
const golden = JSON.parse(fs.readFileSync(path.join(DIR, 'golden.json'), 'utf8')) as Golden;

async function rewards(model: string, batchTokens: number): Promise<number[]> {
  const scorer = await RewardScorer.open({ modelDir: path.join(DIR, model), batchTokens, threads: 1 });
  const items = (golden[model === 'decoder-llama-external' ? 'decoder-llama' : model] ?? []).map((g) =>
    scorer.encode({ prompt: g.prompt as never, response: g.response }),
  );
  const out = new Array<number>(items.length);
  for (const batch of scorer.plan(items)) (await scorer.runBatch(items, batch)).forEach((v, k) => (out[batch[k]] = v));
  return out;
}

describe.each([
  ['decoder-llama', 'decoder-llama', 1e-4],
  ['decoder-llama-external', 'decoder-llama', 1e-4],
  ['decoder-llama-fp16', 'decoder-llama-fp16', 5e-3],
  ['encoder-bert', 'encoder-bert', 1e-4],
])('%s', (model, goldenOf, tolerance) => {
  test.each([
    ['one conversation per batch', 1],
    ['padded batches', 100000],
  ])(`rewards equal PyTorch's (within ${tolerance}): %s`, async (_how, batchTokens) => {
    const want = golden[goldenOf].map((g) => g.reward);
    const got = await rewards(model, batchTokens);
    const off = got.map((x, i) => ({ i, ours: x, torch: want[i], diff: Math.abs(x - want[i]) })).filter((d) => !(d.diff <= tolerance));
    expect(off).toEqual([]);
  });
});
