import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { JudgeConfig, JudgeConfigSchema } from '../../activities/judge/config';
import { judgeFile } from '../../activities/judge/judge-file';
import { planPairs, presentationsFor, resolvePair, unswap, PairWinner } from '../../activities/judge/pairwise';
import { parsePairwise, Winner } from '../../activities/judge/parse';
import { FakeJudgeServer, hiddenScore } from '../fakes/openai-judge-server';
import { useFakeJudges } from '../helpers/judge';
import { CLI, quickstartSamples, tmpDir, writeJsonl } from '../helpers/paths';
import { loadJudgeConfig } from '../../activities/judge/config-file';

jest.setTimeout(120_000);

const server = useFakeJudges();

function config(s: FakeJudgeServer, o: Partial<JudgeConfig> = {}): JudgeConfig {
  return JudgeConfigSchema.parse({
    kind: 'judge',
    mode: 'pairwise',
    baseURL: s.baseURL,
    model: 'judge-small',
    timeoutSeconds: 1,
    attempts: 2,
    limits: { requestsPerMinute: 60000, tokensPerMinute: 1e9, maxInFlight: 8, windowSeconds: 60 },
    ...o,
  });
}

async function judgePairs(s: FakeJudgeServer, records: Record<string, unknown>[], o: Partial<JudgeConfig> = {}, dir = tmpDir('alignloop-pairs-')) {
  const input = path.join(dir, 'in.jsonl');
  writeJsonl(input, records);
  const out = path.join(dir, 'judged.jsonl');
  const r = await judgeFile(input, out, {
    config: config(s, o),
    apiKey: 'sk-test-123',
    cacheDir: path.join(dir, 'cache'),
    limiterDir: path.join(dir, 'limiter'),
  });
  return {
    r,
    dir,
    out,
    lines: fs
      .readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l)),
  };
}

const truth = (x: string, y: string): PairWinner => (hiddenScore(x) === hiddenScore(y) ? 'tie' : hiddenScore(x) > hiddenScore(y) ? 'x' : 'y');
const textOf = (o: unknown) => (typeof o === 'string' ? o : (o as { content: string }[]).map((t) => t.content).join('\n'));

describe('pairwise, pure', () => {
  const winner = fc.constantFrom<Winner>('A', 'B', 'tie');

  test('swap single: whatever order is shown, a judge that sees the truth gives back the truth (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.nat(1000), fc.nat(1000), fc.integer(), fc.constantFrom<PairWinner>('x', 'y', 'tie'), (pid, xId, yId, seed, t) => {
        const [p] = presentationsFor(pid, xId, yId, { swap: 'single', seed });
        // The judge answers about the shown order: A is whichever sample is shown first.
        const shownFirst: PairWinner = p === 'xy' ? 'x' : 'y';
        const w: Winner = t === 'tie' ? 'tie' : t === shownFirst ? 'A' : 'B';
        const v = resolvePair([{ presented: p, winner: w, scoreA: null, scoreB: null }]);
        expect(v).toEqual({ winner: t, inconsistent: false, scores: null });
      }),
    );
  });

  test('swap single: the shown order is seeded, recorded, and about half the pairs are swapped', () => {
    const orders = Array.from({ length: 4000 }, (_, i) => presentationsFor(`p${i % 97}`, i, i + 1, { swap: 'single', seed: 7 })[0]);
    const swapped = orders.filter((o) => o === 'yx').length / orders.length;
    expect(swapped).toBeGreaterThan(0.46);
    expect(swapped).toBeLessThan(0.54);
    expect(Array.from({ length: 4000 }, (_, i) => presentationsFor(`p${i % 97}`, i, i + 1, { swap: 'single', seed: 7 })[0])).toEqual(orders);
  });

  test('swap both: orders that disagree make a tie, orders that agree decide (property over random verdicts)', () => {
    fc.assert(
      fc.property(
        winner,
        winner,
        fc.option(
          fc.tuple(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 10 })),
          { nil: null },
        ),
        (w1, w2, sc) => {
          const v = resolvePair([
            { presented: 'xy', winner: w1, scoreA: sc?.[0] ?? null, scoreB: sc?.[1] ?? null },
            { presented: 'yx', winner: w2, scoreA: sc?.[2] ?? null, scoreB: sc?.[3] ?? null },
          ]);
          const a = unswap('xy', w1),
            b = unswap('yx', w2);
          expect(v.inconsistent).toBe(a !== b);
          expect(v.winner).toBe(a === b ? a : 'tie');
          // scores are per sample: x is A in the first order and B in the second
          if (sc) expect(v.scores).toEqual([(sc[0] + sc[3]) / 2, (sc[1] + sc[2]) / 2]);
          else expect(v.scores).toBeNull();
        },
      ),
    );
  });

  test('a judge that always picks the same position never decides a pair under swap both', () => {
    for (const w of ['A', 'B'] as const) {
      const v = resolvePair([
        { presented: 'xy', winner: w, scoreA: null, scoreB: null },
        { presented: 'yx', winner: w, scoreA: null, scoreB: null },
      ]);
      expect(v).toMatchObject({ winner: 'tie', inconsistent: true });
    }
  });

  test('random disjoint pairs: no sample twice, floor(k/2) pairs, odd leftovers counted, deterministic', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 30 }), fc.integer(), (sizes, seed) => {
        const groups = new Map(sizes.map((k, g) => [`p${g}`, Array.from({ length: k }, (_, i) => ({ sampleId: i }))]));
        const plan = planPairs(groups, { pairing: 'random', swap: 'single', seed });
        for (const [pid, members] of groups) {
          const mine = plan.pairs.filter((p) => p.promptId === pid);
          expect(mine).toHaveLength(Math.floor(members.length / 2));
          const used = mine.flatMap((p) => [p.x.sampleId, p.y.sampleId]);
          expect(new Set(used).size).toBe(used.length);
          for (const p of mine) expect(p.x).not.toBe(p.y);
        }
        expect(plan.unpairedOdd).toBe(sizes.filter((k) => k >= 2 && k % 2 === 1).length);
        expect(plan.promptsTooFew).toBe(sizes.filter((k) => k < 2).length);
        expect(planPairs(groups, { pairing: 'random', swap: 'single', seed })).toEqual(plan);
      }),
    );
  });

  test('pairing all gives every pair once; maxPairsPerPrompt caps; swap both shows both orders', () => {
    const groups = new Map([['p', Array.from({ length: 5 }, (_, i) => ({ sampleId: i }))]]);
    const all = planPairs(groups, { pairing: 'all', swap: 'both', seed: 0 });
    expect(all.pairs).toHaveLength(10);
    expect(new Set(all.pairs.map((p) => `${p.x.sampleId}-${p.y.sampleId}`)).size).toBe(10);
    for (const p of all.pairs) expect(p.presentations).toEqual(['xy', 'yx']);
    expect(planPairs(groups, { pairing: 'all', maxPairsPerPrompt: 3, swap: 'single', seed: 0 }).pairs).toHaveLength(3);
  });

  test('parsePairwise: verdicts, MT-Bench tags, scores, and failures that are reasons', () => {
    const scale = { min: 1, max: 10 };
    expect(parsePairwise('A is clearer.\nScore A: 7\nScore B: 4\nVerdict: A', scale, false)).toEqual({ ok: true, winner: 'A', scoreA: 7, scoreB: 4 });
    expect(parsePairwise('Verdict: tie', scale, false)).toEqual({ ok: true, winner: 'tie', scoreA: null, scoreB: null });
    expect(parsePairwise('Assistant B wins. [[B]]', scale, false)).toMatchObject({ ok: true, winner: 'B' });
    expect(parsePairwise('Not [[A]] but [[B]]', scale, false)).toEqual({ ok: false, reason: 'unparsable' });
    expect(parsePairwise('[[A]] is what I first thought.\nOn balance, B.', scale, false)).toEqual({ ok: false, reason: 'unparsable' });
    expect(parsePairwise('Verdict: A\nActually, maybe B.', scale, false)).toEqual({ ok: false, reason: 'unparsable' });
    expect(parsePairwise('Score A: 7\nScore A: 3\nScore B: 4\nVerdict: A', scale, false)).toEqual({ ok: false, reason: 'unparsable' });
    expect(parsePairwise('Score A: 7.5\nScore B: 4\nVerdict: A', scale, false)).toEqual({ ok: false, reason: 'non_integer' });
    expect(parsePairwise('```json\n{"winner":"tie","score_a":5,"score_b":5}\n```', scale, true)).toEqual({ ok: true, winner: 'tie', scoreA: 5, scoreB: 5 });
    expect(parsePairwise('{"winner":"B"} B is better.', scale, true)).toEqual({ ok: false, reason: 'unparsable' });
    expect(parsePairwise('[[C]]', scale, false)).toMatchObject({ ok: true, winner: 'tie' });
    expect(parsePairwise('{"reasoning":"r","winner":"B","score_a":2,"score_b":9}', scale, true)).toEqual({ ok: true, winner: 'B', scoreA: 2, scoreB: 9 });
    expect(parsePairwise('Both fine.', scale, false)).toEqual({ ok: false, reason: 'unparsable' });
    expect(parsePairwise('Score A: 42\nScore B: 1\nVerdict: A', scale, false)).toEqual({ ok: false, reason: 'out_of_range' });
    expect(parsePairwise('  ', scale, false)).toEqual({ ok: false, reason: 'empty_reply' });
  });
});

describe.each([
  ['with structured output', true],
  ['without structured output (text fallback)', false],
])('pairwise judging %s (real HTTP, real openai client)', (_n, structured) => {
  test('swap single: every decided pair matches the hidden rule, ties are dropped and counted, orders recorded', async () => {
    const s = await server({ structuredOutput: structured });
    const records = quickstartSamples(12);
    const { r, lines } = await judgePairs(s, records);
    expect(r.mode).toBe('pairwise');
    expect(r.pairStats!.pairs).toBe(lines.length);
    expect(lines.length).toBe(12 * 5); // 10 candidates per prompt -> 5 disjoint pairs
    let ties = 0;
    for (const l of lines) {
      const t = truth(textOf(l.outputs[0]), textOf(l.outputs[1]));
      expect(l.winner).toBe(t);
      expect(l.label_status).toBe(t === 'tie' ? 'tie' : 'ok');
      expect(l.presented).toHaveLength(1);
      expect(l.scores).toEqual([hiddenScore(textOf(l.outputs[0])), hiddenScore(textOf(l.outputs[1]))]);
      if (t === 'tie') ties++;
    }
    expect(r.pairStats!.ties).toBe(ties);
    expect(r.pairStats!.decided).toBe(lines.length - ties);
    expect(new Set(lines.map((l) => l.presented[0]))).toEqual(new Set(['xy', 'yx']));
    expect(r.paidCalls).toBe(lines.length);
    expect(r.pairStats!.lengths.longer_won_share).not.toBeNull();
  });
});

test('swap both against a position-biased judge: inconsistent verdicts become ties, decided pairs are all right', async () => {
  const s = await server({ structuredOutput: true, positionBias: 0.35 });
  const { r, lines } = await judgePairs(s, quickstartSamples(16), { swap: 'both' });
  expect(r.paidCalls).toBe(2 * lines.length);
  const decided = lines.filter((l) => l.winner === 'x' || l.winner === 'y');
  for (const l of decided) expect(l.winner).toBe(truth(textOf(l.outputs[0]), textOf(l.outputs[1])));
  const inconsistent = lines.filter((l) => l.label_status === 'inconsistent');
  expect(inconsistent.length).toBeGreaterThan(0);
  expect(r.pairStats!.inconsistent).toBe(inconsistent.length);
  for (const l of inconsistent) {
    expect(l.winner).toBe('tie');
    expect(l.presented).toEqual(['xy', 'yx']);
  }
  // the same biased judge under swap single gets some labels wrong: that is what swap both is for
  const single = await judgePairs(s, quickstartSamples(16), { swap: 'single', seed: 3 });
  expect(
    single.lines.filter((l) => (l.winner === 'x' || l.winner === 'y') && l.winner !== truth(textOf(l.outputs[0]), textOf(l.outputs[1]))).length,
  ).toBeGreaterThan(0);
});

test('a pair whose judgement failed is unlabelled with the reason, never decided', async () => {
  const s = await server({ structuredOutput: false });
  const prompt = [{ role: 'user', content: 'how do I plan?' }];
  const records = ['first plan FAULT_500', 'first check', 'FAULT_GARBAGE here', 'next step', 'step FAULT_HANG', 'review it'].map((output, i) => ({
    prompt_id: `p${i >> 1}`,
    sample_id: i % 2,
    prompt,
    output,
  }));
  const { r, lines } = await judgePairs(s, records, { maxUnlabelledShare: 1 });
  const byText = (t: string) => lines.find((l) => l.outputs.includes(t));
  expect(byText('first check')).toMatchObject({ winner: null, label_status: 'server_error', scores: null });
  expect(byText('next step')).toMatchObject({ winner: null, label_status: 'unparsable' });
  expect(byText('next step').judge_raw[0]).toMatch(/hard to say/);
  expect(byText('review it')).toMatchObject({ winner: null, label_status: 'timeout' });
  expect(r.unlabelled).toEqual({ server_error: 1, unparsable: 1, timeout: 1 });
  expect(r.labelled).toBe(0);
});

test("judged pairs -> pairwise feedback directly (alignloop feedback build): chosen = the judge's winner", async () => {
  const s = await server({ structuredOutput: true });
  const { out, dir, lines } = await judgePairs(s, quickstartSamples(10));
  const decided = lines.filter((l) => l.label_status === 'ok');
  const trl = path.join(dir, 'trl.jsonl');
  const res = spawnSync(process.execPath, [CLI, 'feedback', 'build', '--in', out, '--type', 'pairwise', '--format', 'trl', '--out', trl], { encoding: 'utf8' });
  expect(res.status).toBe(0);
  expect(res.stdout).toMatch(new RegExp(`judged pairs ${lines.length}: decided ${decided.length}, ties ${lines.length - decided.length}`));
  const rows = fs
    .readFileSync(trl, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(rows).toHaveLength(decided.length);
  for (const row of rows) {
    expect(hiddenScore(textOf(row.chosen))).toBeGreaterThan(hiddenScore(textOf(row.rejected)));
    expect(row.score_chosen).toBe(hiddenScore(textOf(row.chosen)));
  }
  const halos = path.join(dir, 'halos.json');
  expect(spawnSync(process.execPath, [CLI, 'feedback', 'build', '--in', out, '--type', 'pairwise', '--format', 'halos', '--out', halos]).status).toBe(0);
  for (const e of JSON.parse(fs.readFileSync(halos, 'utf8'))) {
    const [w, l] = e.label === 1 ? [e.output_A, e.output_B] : [e.output_B, e.output_A];
    expect(hiddenScore(textOf(w))).toBeGreaterThan(hiddenScore(textOf(l)));
    expect(Object.keys(e)).toEqual(['prompt_id', 'prompt', 'output_A', 'output_B', 'label', 'reward_A', 'reward_B', 'reward_difference', 'type']);
  }
  // a judge without scores gives labels only: no invented rewards
  const noScores = path.join(dir, 'noscores.jsonl');
  writeJsonl(
    noScores,
    decided.map((l) => ({ ...l, scores: null })),
  );
  expect(spawnSync(process.execPath, [CLI, 'feedback', 'build', '--in', noScores, '--type', 'pairwise', '--format', 'halos', '--out', halos]).status).toBe(0);
  for (const e of JSON.parse(fs.readFileSync(halos, 'utf8'))) expect(Object.keys(e)).toEqual(['prompt_id', 'prompt', 'output_A', 'output_B', 'label', 'type']);
  // mode and threshold make no sense for judged pairs
  const bad = spawnSync(process.execPath, [CLI, 'feedback', 'build', '--in', out, '--type', 'pairwise', '--mode', 'max', '--format', 'trl', '--out', trl], {
    encoding: 'utf8',
  });
  expect(bad.status).toBe(2);
  expect(bad.stderr).toMatch(/judged pairs: the judge already chose and decided the pairs/);
});

test('a pairwise template without its placeholders is refused with the names missing', async () => {
  const s = await server();
  const dir = tmpDir('alignloop-pairs-');
  const t = path.join(dir, 't.txt');
  fs.writeFileSync(t, 'Compare {{prompt}} and {{response}}');
  await expect(judgePairs(s, quickstartSamples(1), { template: t }, dir)).rejects.toThrow(
    /needs the placeholders \{\{prompt\}\}, \{\{response_a\}\}, \{\{response_b\}\}; missing \{\{response_a\}\}, \{\{response_b\}\}/,
  );
});

test('the judge examples are valid (campaign file and standalone config)', () => {
  const root = path.join(__dirname, '..', '..', '..', 'examples', 'judge');
  const v = spawnSync(process.execPath, [CLI, 'validate', path.join(root, 'pairwise-campaign.yaml')], { encoding: 'utf8' });
  // Valid; the example's endpoint (a local vLLM) is not running here, which is only a warning.
  expect(v.status).toBe(0);
  expect(v.stderr.split('\n').filter((l) => l && !l.startsWith('warning: '))).toEqual([]);
  const cfg = loadJudgeConfig(path.join(root, 'pointwise-batch.yaml'));
  expect(cfg).toMatchObject({ mode: 'pointwise', batch: { enabled: true } });
});
