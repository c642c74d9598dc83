/**
 * Money at paid endpoints: alignloop's reported calls, tokens and dollars against the bill of a server
 * that bills like a provider (every reply it produced, usable or not), a 429 that holds every slot
 * and process, limits learnt from the server's headers.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { JudgeConfig, JudgeConfigSchema } from '../../activities/judge/config';
import { judgeFile } from '../../activities/judge/judge-file';
import { SharedRateLimiter } from '../../activities/openai/shared-limiter';
import { FakeJudgeServer } from '../fakes/openai-judge-server';
import { useFakeJudges } from '../helpers/judge';
import { tmpDir, writeJsonl } from '../helpers/paths';

jest.setTimeout(120_000);

const server = useFakeJudges();
const prices = { inputPerMTok: 2.5, outputPerMTok: 10 };

async function run(s: FakeJudgeServer, outputs: string[], o: Partial<JudgeConfig> = {}) {
  const dir = tmpDir('alignloop-billing-');
  const input = path.join(dir, 'in.jsonl');
  writeJsonl(
    input,
    outputs.map((output, i) => ({ prompt_id: `p${i}`, sample_id: 0, prompt: [{ role: 'user', content: `How do I plan question ${i}?` }], output })),
  );
  const config = JudgeConfigSchema.parse({
    kind: 'judge',
    baseURL: s.baseURL,
    model: 'judge-small',
    timeoutSeconds: 2,
    attempts: 2,
    maxUnlabelledShare: 1,
    prices,
    ...o,
  });
  return judgeFile(input, path.join(dir, 'out.jsonl'), {
    config,
    apiKey: 'sk-test-123',
    cacheDir: path.join(dir, 'cache'),
    limiterDir: path.join(dir, 'limiter'),
  });
}

const answers = (n: number, faults: string[]) =>
  Array.from({ length: n }, (_, i) => `First check the plan, then review step ${i}.${i % 8 < faults.length ? ` ${faults[i % 8]}` : ''}`);

test('every billed call is counted: replies without choices, refusals, garbage and cut-off answers cost what the server bills', async () => {
  const s = await server();
  const r = await run(s, answers(64, ['FAULT_NOCHOICES', 'FAULT_REFUSAL', 'FAULT_GARBAGE', 'FAULT_TRUNC']));
  expect(s.stats.billed.calls).toBeGreaterThan(64);
  expect(r.paidCalls).toBe(s.stats.billed.calls);
  expect(r.promptTokens).toBe(s.stats.billed.promptTokens);
  expect(r.completionTokens).toBe(s.stats.billed.completionTokens);
  expect(r.costUsd).toBeCloseTo(s.billedUsd(prices), 10);
  // 8 prompts each: no choices (billed on both attempts), refusal, garbage, cut off: paid, no label.
  expect(r.paidUnlabelled).toBe(8 * 2 + 8 + 8 + 8);
  expect(r.labelled).toBe(64 - 32);
  expect(r.estimatedCalls).toBe(0);
});

test('without usage in the replies, the estimated cost is never below the bill, and is marked as estimated', async () => {
  const s = await server({ usage: false, countTokens: 'subwords' });
  const r = await run(s, answers(48, []));
  expect(r.paidCalls).toBe(s.stats.billed.calls);
  expect(r.estimatedCalls).toBe(r.paidCalls);
  expect(r.promptTokens).toBeGreaterThanOrEqual(s.stats.billed.promptTokens);
  expect(r.completionTokens).toBeGreaterThanOrEqual(s.stats.billed.completionTokens);
  expect(r.costUsd).toBeGreaterThanOrEqual(s.billedUsd(prices));
  // An upper bound, not a wild one.
  expect(r.costUsd).toBeLessThan(s.billedUsd(prices) * 4);
});

test('a reply lost after the server billed it: the retry is counted as a call that may have paid twice', async () => {
  const s = await server();
  const r = await run(s, answers(8, ['FAULT_DROP']), { attempts: 3 });
  // The dropped prompt: three attempts, each billed, none read; the two retries are counted.
  expect(s.stats.billed.calls - r.paidCalls).toBe(3);
  expect(r.paidRetries).toBe(2);
});

describe('the shared limiter', () => {
  const limits = { requestsPerWindow: 10, tokensPerWindow: 1e9, windowMs: 1000, maxInFlight: 100, burstShare: 0.01 };

  test('a 429 seen by one process holds the requests another process has reserved slots for', async () => {
    const dir = tmpDir('alignloop-hold-');
    const a = new SharedRateLimiter(dir, limits, 10_000);
    const b = new SharedRateLimiter(dir, limits, 10_000);
    const t0 = Date.now();
    // One request per ~100 ms: the later ones hold reserved slots, released by timers.
    const granted = Array.from({ length: 5 }, () => a.acquire(1).then(() => Date.now()));
    await new Promise((r) => setTimeout(r, 20));
    const holdUntil = Date.now() + 700;
    await b.holdUntil(holdUntil);
    const times = await Promise.all(granted);
    const sentDuringHold = times.filter((t) => t > t0 + 30 && t < holdUntil);
    expect(sentDuringHold).toEqual([]);
  });

  test('limits the server advertises (per minute) below the configured ones are adopted by every process, higher ones are not', async () => {
    const dir = tmpDir('alignloop-learn-');
    const perMinute = { ...limits, windowMs: 60_000, requestsPerWindow: 1800, tokensPerWindow: 340_000 };
    const a = new SharedRateLimiter(dir, perMinute, 10_000);
    const b = new SharedRateLimiter(dir, perMinute, 10_000);
    await a.holdFromHeaders(new Headers({ 'x-ratelimit-limit-requests': '900', 'x-ratelimit-limit-tokens': '170000' }), 1);
    expect(b.limitsNow()).toMatchObject({ requestsPerWindow: 900, tokensPerWindow: 170_000 });
    await b.holdFromHeaders(new Headers({ 'x-ratelimit-limit-requests': '5000', 'x-ratelimit-limit-tokens': '1000000' }), 1);
    expect(a.limitsNow()).toMatchObject({ requestsPerWindow: 900, tokensPerWindow: 170_000 });
    // A limiter of a shorter window reads the same headers scaled to it.
    const short = new SharedRateLimiter(tmpDir('alignloop-learn-'), { ...limits, windowMs: 6000, requestsPerWindow: 1000 }, 10_000);
    await short.holdFromHeaders(new Headers({ 'x-ratelimit-limit-requests': '900' }), 1);
    expect(short.limitsNow().requestsPerWindow).toBe(90);
    expect(fs.existsSync(path.join(dir, 'limiter.json'))).toBe(true);
  });
});
