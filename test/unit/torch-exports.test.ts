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

describe('sentence pairs (inputFormat: pair), as encoder reward models are called: tokenizer(question, answer)', () => {
  type PairGolden = { prompt: { role: string; content: string }[]; response: string; input_ids: number[]; token_type_ids: number[]; reward: number }[];
  const pairs = JSON.parse(fs.readFileSync(path.join(DIR, 'pair-golden.json'), 'utf8')) as PairGolden;
  const modelDir = path.join(DIR, 'encoder-bert-pair');
  const items = () => pairs.map((g) => ({ prompt: g.prompt as never, response: g.response }));

  test("ids and segment ids equal transformers' tokenizer(question, answer), on this thread and on tokenization threads", async () => {
    for (const tokenizerThreads of [0, 2]) {
      const scorer = await RewardScorer.open({ modelDir, inputFormat: 'pair', threads: 1, tokenizerThreads });
      const got = await scorer.encodeMany([...items(), ...items(), ...items(), ...items(), ...items(), ...items()]);
      expect(got).toHaveLength(pairs.length * 6);
      got.forEach((e, i) => expect(e).toEqual({ ids: pairs[i % pairs.length].input_ids, typeIds: pairs[i % pairs.length].token_type_ids, truncated: false }));
    }
    expect(pairs.some((g) => g.token_type_ids.includes(1))).toBe(true);
  });

  test.each([
    ['one conversation per batch', 1],
    ['padded batches', 100000],
  ])('rewards equal ONNX Runtime on those inputs (within 1e-4): %s', async (_how, batchTokens) => {
    const scorer = await RewardScorer.open({ modelDir, inputFormat: 'pair', threads: 1, batchTokens });
    const enc = items().map((it) => scorer.encode(it));
    const out = new Array<number>(enc.length);
    for (const batch of scorer.plan(enc)) (await scorer.runBatch(enc, batch)).forEach((v, k) => (out[batch[k]] = v));
    const off = out.map((x, i) => ({ i, ours: x, want: pairs[i].reward })).filter((d) => !(Math.abs(d.ours - d.want) <= 1e-4));
    expect(off).toEqual([]);
    // The plain format (one sequence, segment ids 0) scores the same model differently.
    const plain = await RewardScorer.open({ modelDir, threads: 1 });
    const p = items().map((it) => plain.encode(it));
    const plainRewards = await plain.runBatch(p, [0, 1, 2]);
    expect(plainRewards.some((v, i) => Math.abs(v - out[i]) > 1e-3)).toBe(true);
  });

  test('over-long pairs lose question tokens from the left, then the start of the answer; the special tokens and segments stay', async () => {
    const scorer = await RewardScorer.open({ modelDir, inputFormat: 'pair', threads: 1, maxLength: 24 });
    const sep = pairs[0].input_ids[pairs[0].input_ids.length - 1];
    const cls = pairs[0].input_ids[0];
    const longQuestion = scorer.encode({ prompt: [{ role: 'user', content: 'why '.repeat(40) + 'the sky is blue' }] as never, response: 'light scatters' });
    expect(longQuestion.truncated).toBe(true);
    expect(longQuestion.ids).toHaveLength(24);
    expect(longQuestion.ids[0]).toBe(cls);
    expect(longQuestion.ids.filter((t) => t === sep)).toHaveLength(2);
    const full = scorer.encode({ prompt: [{ role: 'user', content: 'q' }] as never, response: 'light scatters' });
    // The whole answer and its segment survive; the question keeps its end.
    const answer = full.ids.slice(full.ids.indexOf(sep) + 1);
    expect(longQuestion.ids.slice(-answer.length)).toEqual(answer);
    expect(longQuestion.typeIds!.slice(-answer.length)).toEqual(answer.map(() => 1));
    expect(longQuestion.typeIds!.slice(0, -answer.length).every((t) => t === 0)).toBe(true);

    const longAnswer = scorer.encode({ prompt: [{ role: 'user', content: 'q' }] as never, response: 'blah '.repeat(40) + 'the end' });
    expect(longAnswer.ids).toHaveLength(24);
    expect(longAnswer.ids[0]).toBe(cls);
    expect(longAnswer.ids[1]).toBe(sep); // no question tokens left
    const end = scorer.encode({ prompt: [{ role: 'user', content: 'q' }] as never, response: 'the end' });
    expect(longAnswer.ids.slice(-3)).toEqual(end.ids.slice(-3));
  });
});
