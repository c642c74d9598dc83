/**
 * The judge against what real gateways and servers do: broken bodies, stalls, quota errors,
 * HTTP-date Retry-After, no usage, cut replies. Each run must end with every item either labelled
 * correctly or unlabelled with a reason: no crash, no hang, no wrong label, no overspend.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { JudgeConfig, JudgeConfigSchema } from '../../activities/judge/config';
import { judgeFile } from '../../activities/judge/judge-file';
import { JudgeBudgetExhausted, JudgeSystemicError } from '../../config/errors';
import { FakeJudgeServer, hiddenScore } from '../fakes/openai-judge-server';
import { useFakeJudges } from '../helpers/judge';
import { tmpDir, writeJsonl } from '../helpers/paths';

jest.setTimeout(120_000);

const server = useFakeJudges();

function opts(s: FakeJudgeServer, dir: string, o: Partial<JudgeConfig> = {}, budgetUsd?: number) {
  return {
    config: JudgeConfigSchema.parse({ kind: 'judge', baseURL: s.baseURL, model: 'judge-small', timeoutSeconds: 1, attempts: 2, maxUnlabelledShare: 1, ...o }),
    apiKey: 'sk-test-123',
    cacheDir: path.join(dir, 'cache'),
    limiterDir: path.join(dir, 'limiter'),
    ...(budgetUsd !== undefined ? { budget: { dir: path.join(dir, 'budget'), scope: 'run', limitUsd: budgetUsd } } : {}),
  };
}

async function run(s: FakeJudgeServer, outputs: string[], o: Partial<JudgeConfig> = {}, dir = tmpDir('alignloop-gw-')) {
  const input = path.join(dir, 'in.jsonl');
  writeJsonl(
    input,
    outputs.map((output, i) => ({ prompt_id: `p${i}`, sample_id: 0, prompt: [{ role: 'user', content: `question ${i}` }], output })),
  );
  const out = path.join(dir, 'out.jsonl');
  const r = await judgeFile(input, out, opts(s, dir, o));
  const lines = fs
    .readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  return { r, dir, input, out, lines, byText: (t: string) => lines.find((l) => l.output === t) };
}

const good = ['a clear answer with steps', 'short reply', 'a longer and more careful answer'];

describe.each([false, true])('broken replies (structured output %s)', (structuredOutput) => {
  test('dropped mid-body, 200 with an error body, no choices, an HTML page, a stalled body: unlabelled with a reason, the rest labelled, no crash', async () => {
    const s = await server({ structuredOutput });
    const faults = ['FAULT_DROP reply', 'FAULT_ERROR200 reply', 'FAULT_NOCHOICES reply', 'FAULT_HTML reply', 'FAULT_STALL reply'];
    const t0 = Date.now();
    const { lines, byText, r } = await run(s, [...good, ...faults]);
    expect(Date.now() - t0).toBeLessThan(60_000); // the stalled body did not hang the run
    for (const g of good) expect(byText(g)).toMatchObject({ label_status: 'ok', reward: hiddenScore(g) });
    expect(byText('FAULT_DROP reply')).toMatchObject({ reward: null, label_status: expect.stringMatching(/^(connection_error|malformed_reply)$/) });
    expect(byText('FAULT_ERROR200 reply')).toMatchObject({ reward: null, label_status: 'malformed_reply' });
    expect(byText('FAULT_NOCHOICES reply')).toMatchObject({ reward: null, label_status: 'malformed_reply' });
    expect(byText('FAULT_HTML reply')).toMatchObject({ reward: null, label_status: 'malformed_reply' });
    expect(byText('FAULT_STALL reply')).toMatchObject({ reward: null, label_status: 'timeout' });
    expect(lines).toHaveLength(good.length + faults.length);
    expect(r.unlabelled).toMatchObject({ malformed_reply: expect.any(Number), timeout: 1 });
  });

  test('a reply cut at max_tokens is truncated, never parsed (it would read "Score: 1")', async () => {
    const s = await server({ structuredOutput });
    const { byText } = await run(s, [...good, 'FAULT_TRUNC reply']);
    expect(byText('FAULT_TRUNC reply')).toMatchObject({ reward: null, label_status: 'truncated' });
    expect(byText('FAULT_TRUNC reply').judge_raw).toMatch(/1$/);
    for (const g of good) expect(byText(g)).toMatchObject({ label_status: 'ok', reward: hiddenScore(g) });
  });
});

test('a rerun after broken replies buys only what is still missing', async () => {
  const s = await server();
  const first = await run(s, [...good, 'FAULT_ERROR200 x', 'FAULT_DROP y']);
  const paid = s.stats.paidByText.size;
  const second = await run(s, [...good, 'FAULT_ERROR200 x', 'FAULT_DROP y'], {}, first.dir);
  expect(second.r.cacheHits).toBe(good.length);
  expect(s.stats.paidByText.size).toBe(paid);
  for (const t of good) expect(s.stats.paidByText.get(t)).toBe(1);
});

test('429 insufficient_quota stops the run with a clear message instead of retrying forever', async () => {
  const s = await server();
  const t0 = Date.now();
  const err = await run(s, [...good, 'FAULT_QUOTA reply']).catch((e) => e);
  expect(err).toBeInstanceOf(JudgeSystemicError);
  expect(err.message).toMatch(/lack of quota \(insufficient_quota\).*add credit/);
  expect(Date.now() - t0).toBeLessThan(30_000);
  expect(s.stats.errors['429']).toBe(1); // asked once, not again and again
});

test.each(['date', 'ms', 'seconds'] as const)('Retry-After as %s is honoured: no request before the server said', async (retryAfter) => {
  const s = await server({ requestsPerWindow: 3, windowMs: 1500, retryAfter, rateLimitHeaders: false });
  const outputs = Array.from({ length: 8 }, (_, i) => `answer number ${i}`);
  const { lines } = await run(s, outputs, { limits: { requestsPerMinute: 60000, tokensPerMinute: 1e9, maxInFlight: 4, windowSeconds: 60 } });
  for (const l of lines) expect(l).toMatchObject({ label_status: 'ok', reward: hiddenScore(l.output) });
  expect(s.stats.rateLimited).toBeGreaterThan(0);
  // No request was sent after a 429 reached the client and before the time it named (requests
  // already in flight when the 429 was written may still land just after it).
  const arrivals = [...s.stats.admitted.map((a) => a.at), ...s.stats.rejections.map((r) => r.at)];
  for (const r of s.stats.rejections) {
    const early = arrivals.filter((t) => t > r.at + 150 && t < r.retryAt - 50);
    expect({ rejection: r, early }).toEqual({ rejection: r, early: [] });
  }
});

test('a server without usage: cost from counted tokens (marked estimated), never $0, and the budget holds', async () => {
  const s = await server({ usage: false });
  const dir = tmpDir('alignloop-gw-');
  const outputs = Array.from({ length: 30 }, (_, i) => `an answer about topic ${i} with a few more words`);
  const input = path.join(dir, 'in.jsonl');
  writeJsonl(
    input,
    outputs.map((output, i) => ({ prompt_id: `p${i}`, sample_id: 0, prompt: [{ role: 'user', content: `question ${i}` }], output })),
  );
  const o = { prices: { inputPerMTok: 1000, outputPerMTok: 4000 } } as Partial<JudgeConfig>;
  const free = await judgeFile(input, path.join(dir, 'a.jsonl'), opts(s, dir, o));
  expect(free.costUsd).toBeGreaterThan(0);
  expect(free.promptTokens).toBeGreaterThan(0);
  const cached = fs
    .readdirSync(path.join(dir, 'cache'))
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) =>
      fs
        .readFileSync(path.join(dir, 'cache', f), 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l)),
    );
  expect(cached.length).toBeGreaterThan(0);
  for (const e of cached) expect(e.tokensEstimated).toBe(true);
  // A budget of a third of that stops buying inside the run, and what was spent stays within it.
  const dir2 = tmpDir('alignloop-gw-');
  const budget = free.costUsd / 3;
  const err = await judgeFile(input, path.join(dir2, 'b.jsonl'), opts(s, dir2, o, budget)).catch((e) => e);
  expect(err).toBeInstanceOf(JudgeBudgetExhausted);
  expect(err.spentUsd).toBeLessThanOrEqual(budget + 1e-9);
  expect(err.spentUsd).toBeGreaterThan(0);
});
