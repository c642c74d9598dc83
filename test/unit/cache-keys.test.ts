/**
 * Caches answer only the question they were asked: a judgement or a reward cached from one server,
 * or under other request settings, is never given for another.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { JudgeConfigSchema } from '../../activities/judge/config';
import { judgeFile } from '../../activities/judge/judge-file';
import { ReplyCache } from '../../activities/openai/reply-cache';
import { RewardServerLabelerSchema } from '../../activities/labelers/reward-server/config';
import { RewardServerCaller, scoreFileRemote } from '../../activities/score/remote/remote-scorer';
import { FakeRewardServer } from '../fakes/reward-server';
import { useFakeJudges } from '../helpers/judge';
import { CLI, MODELS, quickstartSamples, tmpDir, writeJsonl } from '../helpers/paths';
import { spawn } from 'node:child_process';

jest.setTimeout(120_000);

const judgeServer = useFakeJudges();
const records = quickstartSamples(3);

describe('judge cache', () => {
  const dir = tmpDir('alignloop-keys-');
  const input = path.join(dir, 'in.jsonl');
  writeJsonl(input, records);
  const cacheDir = path.join(dir, 'cache');
  const judge = (baseURL: string, structured: 'auto' | 'never' = 'auto', out = path.join(dir, `out-${Math.random()}.jsonl`)) =>
    judgeFile(input, out, {
      config: JudgeConfigSchema.parse({ kind: 'judge', baseURL, model: 'judge-small', timeoutSeconds: 2, attempts: 3, structured }),
      apiKey: 'sk-test-123',
      cacheDir,
      limiterDir: path.join(dir, 'limiter'),
    });

  test('two servers serving the same model name are two judges; so are two structured-output settings', async () => {
    const one = await judgeServer();
    const two = await judgeServer();
    const first = await judge(one.baseURL);
    expect(first.cacheHits).toBe(0);
    expect(one.stats.ok).toBe(records.length);
    // Same server, same everything: all from the cache.
    expect((await judge(one.baseURL)).cacheHits).toBe(records.length);
    // Another server of the same model name: asked, not answered from the first one's judgements.
    const second = await judge(two.baseURL);
    expect(second.cacheHits).toBe(0);
    expect(two.stats.ok).toBe(records.length);
    // A trailing slash is the same server.
    expect((await judge(`${two.baseURL}/`)).cacheHits).toBe(records.length);
    const calls = one.stats.ok;
    expect((await judge(one.baseURL, 'never')).cacheHits).toBe(0);
    expect(one.stats.ok).toBe(calls + records.length);
  });

  test('alignloop judge says how many items came from the cache, and where it is', async () => {
    const s = await judgeServer();
    const cfg = path.join(dir, 'judge.yaml');
    fs.writeFileSync(cfg, `kind: judge\nbaseURL: ${s.baseURL}\nmodel: judge-small\napiKeyEnv: KEYS_TEST_KEY\n`);
    const cache = path.join(dir, 'cli-cache');
    const run = () =>
      new Promise<{ status: number | null; stdout: string }>((resolve) => {
        const child = spawn(
          process.execPath,
          [CLI, 'judge', '--in', input, '--out', path.join(dir, 'cli.jsonl'), '--config', cfg, '--cache-dir', cache, '--quiet'],
          {
            env: { ...process.env, KEYS_TEST_KEY: 'sk-test-123' },
          },
        );
        let stdout = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.on('exit', (status) => resolve({ status, stdout }));
      });
    await run();
    const again = await run();
    expect(again.status).toBe(0);
    expect(again.stdout).toContain(`paid calls 0, cache hits ${records.length} (from ${cache})`);
  });
});

describe('reward-server cache', () => {
  test('a reward cached with the server adding its special tokens is not given when it no longer adds them', async () => {
    const server = await new FakeRewardServer({ protocol: 'vllm', model: 'rm' }).start();
    const dir = tmpDir('alignloop-keys-');
    const input = path.join(dir, 'samples.jsonl');
    writeJsonl(input, records);
    const template = path.join(dir, 'rm.jinja');
    fs.writeFileSync(template, "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}");
    const cacheDir = path.join(dir, 'cache');
    const score = async (extra: Record<string, unknown>) => {
      const c = RewardServerLabelerSchema.parse({
        kind: 'reward-server',
        protocol: 'vllm',
        baseURL: server.baseURL,
        model: 'rm',
        chatTemplate: template,
        ...extra,
      });
      const caller = new RewardServerCaller(c, '', new ReplyCache(cacheDir, 'rewards'), path.join(dir, 'limiter'));
      try {
        return await scoreFileRemote(c, caller, input, path.join(dir, 'out.jsonl'));
      } finally {
        await caller.close();
      }
    };
    try {
      expect((await score({})).requests).toBeGreaterThan(0);
      expect((await score({})).requests).toBe(0);
      // With the model's tokenizer config the request says add_special_tokens: false: another answer.
      const other = await score({ tokenizer: MODELS.bt });
      expect(other.requests).toBeGreaterThan(0);
      expect(other.cacheHits).toBe(0);
    } finally {
      await server.stop();
    }
  });
});
