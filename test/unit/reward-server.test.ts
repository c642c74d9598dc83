/**
 * The reward-server labeler against local servers speaking vLLM's /classify, SGLang's /classify and
 * OpenRLHF's /get_reward, with their failures: every reward is the server's for the text rendered
 * with the reward model's template, failures are retried or leave items unlabelled with the reason,
 * configuration errors stop, and nothing is asked twice.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RewardServerConfigError, RewardServerSystemicError } from '../../config/errors';
import { ReplyCache } from '../../activities/openai/reply-cache';
import { RewardServerConfig, RewardServerLabelerSchema } from '../../activities/labelers/reward-server/config';
import { RewardServerCaller, scoreFileRemote } from '../../activities/score/remote/remote-scorer';
import { FakeRewardServer, hiddenReward, RewardProtocol } from '../fakes/reward-server';
import { quickstartSamples, tmpDir, writeJsonl } from '../helpers/paths';

jest.setTimeout(60000);

const TEMPLATE = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}";
const dir = tmpDir('alignloop-rs-');
const templateFile = path.join(dir, 'rm.jinja');
fs.writeFileSync(templateFile, TEMPLATE);
const records = quickstartSamples(6) as { prompt_id: string; prompt: { role: string; content: string }[]; output: string }[];
const input = path.join(dir, 'samples.jsonl');
writeJsonl(input, records);
/** The text the server must have been sent for a record: rendered here by hand, not by alignloop. */
const textOf = (r: (typeof records)[number]) => [...r.prompt, { role: 'assistant', content: r.output }].map((m) => `${m.role}: ${m.content}\n`).join('');

let run = 0;
async function score(server: FakeRewardServer, extra: Partial<RewardServerConfig> = {}, cacheDir = path.join(dir, `cache-${++run}`)) {
  const c = RewardServerLabelerSchema.parse({
    kind: 'reward-server',
    protocol: server.opts.protocol,
    baseURL: server.baseURL,
    model: 'rm',
    chatTemplate: templateFile,
    batchSize: 8,
    timeoutSeconds: 2,
    attempts: 3,
    limits: { requestsPerMinute: 60000, tokensPerMinute: 1e9, maxInFlight: 3, windowSeconds: 1 },
    ...extra,
  });
  const caller = new RewardServerCaller(c, '', new ReplyCache(cacheDir, 'rewards'), path.join(dir, `limiter-${run}`));
  const out = path.join(dir, `out-${run}.jsonl`);
  try {
    const r = await scoreFileRemote(c, caller, input, out);
    return {
      r,
      out: fs
        .readFileSync(out, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
      cacheDir,
    };
  } finally {
    await caller.close();
  }
}

describe.each(['vllm', 'sglang', 'openrlhf'] as RewardProtocol[])('%s', (protocol) => {
  let server: FakeRewardServer;
  beforeAll(async () => (server = await new FakeRewardServer({ protocol, model: 'rm' }).start()));
  afterAll(() => server.stop());

  test("every reward is the server's for the conversation rendered with the reward model's template; a rerun asks nothing", async () => {
    const before = server.stats.texts;
    const { r, out, cacheDir } = await score(server);
    expect(r).toMatchObject({ items: records.length, labelled: records.length, unlabelled: {} });
    out.forEach((o, i) => {
      expect(o).toMatchObject({ prompt_id: records[i].prompt_id, label_status: 'ok', labeler: { protocol, model: 'rm' } });
      expect(o.reward).toBeCloseTo(hiddenReward(textOf(records[i])), 9);
    });
    expect(server.stats.texts - before).toBe(new Set(records.map(textOf)).size);
    const again = await score(server, {}, cacheDir);
    expect(again.r.requests).toBe(0);
    expect(again.out.map((o) => o.reward)).toEqual(out.map((o) => o.reward));
  });

  test('5xx, 429 with Retry-After, an HTML 200 and a reply one reward short are retried; nothing is lost', async () => {
    Object.assign(server.faults, { fail500: 2, rateLimit: 1, garbage: 1, short: 1 });
    const { r, out } = await score(server);
    expect(r.labelled).toBe(records.length);
    expect(r.rateLimited).toBe(1);
    out.forEach((o, i) => expect(o.reward).toBeCloseTo(hiddenReward(textOf(records[i])), 9));
  });

  test('a server failing every attempt: items unlabelled with the reason, then the shard stops as systemic; a resume asks only for the rest', async () => {
    server.faults.fail500 = 3; // the first batch's 3 attempts (one request at a time)
    const oneAtATime = { requestsPerMinute: 60000, tokensPerMinute: 1e9, maxInFlight: 1, windowSeconds: 1 };
    const cacheDir = path.join(dir, `cache-systemic-${protocol}`);
    const first = await score(server, { maxUnlabelledShare: 1, limits: oneAtATime } as never, cacheDir);
    expect(first.r.unlabelled).toEqual({ server_error: 8 });
    const failedOnes = first.out.filter((o) => o.label_status === 'server_error');
    expect(failedOnes).toHaveLength(8);
    for (const o of failedOnes)
      expect(o).toMatchObject({ reward: null, label_error: expect.stringMatching(/no reward after labeler.attempts 3 \(server_error\)/) });
    server.faults.fail500 = 3;
    await expect(score(server, { maxUnlabelledShare: 0.1, limits: oneAtATime } as never, path.join(dir, `cache-systemic2-${protocol}`))).rejects.toThrow(
      RewardServerSystemicError,
    );
    const again = await score(server, {}, cacheDir);
    expect(again.r.requests).toBe(1); // only the 8 that failed
    expect(again.r.labelled).toBe(records.length);
  });
});

describe('configuration errors stop at once', () => {
  test('vllm: an unknown model names labeler.model; a server that applies its activation to a one-label model is refused with the fix', async () => {
    const s = await new FakeRewardServer({ protocol: 'vllm', model: 'rm', ignoreActivationFlag: true }).start();
    try {
      await expect(score(s, { model: 'other' })).rejects.toThrow(/does not know model "other" \(HTTP 404\); check labeler.model/);
      const e = await score(s).catch((x) => x);
      expect(e).toBeInstanceOf(RewardServerConfigError);
      expect(e.message).toMatch(/every reward .* is exactly 1.0: the server applied its classify activation .*--pooler-config/);
    } finally {
      await s.stop();
    }
  });

  test('vllm with a two-label head: the reward is logit 1 (activation off), or the index asked for', async () => {
    const s = await new FakeRewardServer({ protocol: 'vllm', model: 'rm', numLabels: 2 }).start();
    try {
      const { out } = await score(s);
      out.forEach((o, i) => expect(o.reward).toBeCloseTo(hiddenReward(textOf(records[i])), 9));
      const { out: zero } = await score(s, { rewardIndex: 0 });
      zero.forEach((o, i) => expect(o.reward).toBeCloseTo(-hiddenReward(textOf(records[i])), 9));
      await expect(score(s, { rewardIndex: 2 })).rejects.toThrow(/rewardIndex 2 is out of range: the model has 2 labels/);
    } finally {
      await s.stop();
    }
  });

  test('a key the server rejects names the variable', async () => {
    const s = await new FakeRewardServer({ protocol: 'openrlhf', apiKey: 'sk-right' }).start();
    try {
      await expect(score(s, { apiKeyEnv: 'RM_KEY' })).rejects.toThrow(/rejected the API key \(HTTP 401\); check the key in \$RM_KEY/);
    } finally {
      await s.stop();
    }
  });
});
