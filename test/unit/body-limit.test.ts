/**
 * What alignloop reads from a server stops at a size limit, with an error naming the server and the
 * limit: a real HTTP server on 127.0.0.1 that answers with more than the limit (declared by
 * Content-Length, or chunked without end in sight).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { batchClient, collectBatch } from '../../activities/judge/batch';
import { JudgementCache } from '../../activities/judge/cache';
import { JudgeConfigSchema } from '../../activities/judge/config';
import { judgeFile, planJudging } from '../../activities/judge/judge-file';
import { BodyTooLarge, limitedFetch } from '../../activities/openai/body-limit';
import { ReplyCache } from '../../activities/openai/reply-cache';
import { probe } from '../../activities/samplers/managed/sampler';
import { RewardServerLabelerSchema } from '../../activities/labelers/reward-server/config';
import { RewardServerCaller } from '../../activities/score/remote/remote-scorer';
import { JudgeConfigError, JudgeSystemicError, RewardServerConfigError } from '../../config/errors';
import { quickstartSamples, tmpDir, writeJsonl } from '../helpers/paths';

jest.setTimeout(60_000);

const MiB = 1024 * 1024;

/** Answers every request with `bytes` of a JSON-looking body; `declared`: with Content-Length, else chunked. Small JSON for `json` paths. */
async function oversized(
  bytes: number,
  declared: boolean,
  json: Record<string, unknown> = {},
): Promise<{ url: string; closedEarly: () => number; close: () => Promise<void> }> {
  let closedEarly = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    const small = json[req.url!.split('?')[0]];
    if (small !== undefined) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(small));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', ...(declared ? { 'content-length': String(bytes) } : {}) });
    const chunk = Buffer.alloc(64 * 1024, 'x');
    chunk.write('{"choices": "');
    let sent = 0;
    const pump = () => {
      while (sent < bytes) {
        const n = Math.min(chunk.length, bytes - sent);
        sent += n;
        if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void res.once('drain', pump);
      }
      res.end();
    };
    res.on('close', () => {
      if (sent < bytes) closedEarly++;
    });
    pump();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    closedEarly: () => closedEarly,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('limitedFetch', () => {
  test.each([
    ['declared by Content-Length', true],
    ['chunked', false],
  ])('a body over the limit (%s) fails naming the server and the limit, and the connection is dropped', async (_, declared) => {
    const s = await oversized(8 * MiB, declared);
    try {
      const f = limitedFetch(64 * 1024);
      const err = await (await f(`${s.url}/v1/models?x=1`)).text().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BodyTooLarge);
      expect((err as Error).message).toMatch(new RegExp(`^${s.url}/v1/models sent a body over 64 KiB \\(alignloop's limit`));
      await new Promise((r) => setTimeout(r, 100));
      expect(s.closedEarly()).toBe(1);
      expect(await (await limitedFetch(8 * MiB)(`${s.url}/ok`)).text()).toHaveLength(8 * MiB); // at the limit: read whole
    } finally {
      await s.close();
    }
  });
});

describe('servers answering with more than the limit', () => {
  test('the judge: a JudgeConfigError naming the endpoint and the 64 MiB limit, not a retried malformed reply', async () => {
    const s = await oversized(80 * MiB, true);
    const dir = tmpDir('alignloop-body-');
    try {
      writeJsonl(path.join(dir, 'in.jsonl'), quickstartSamples(1).slice(0, 1));
      const config = JudgeConfigSchema.parse({ kind: 'judge', baseURL: `${s.url}/v1`, model: 'judge', timeoutSeconds: 20, attempts: 2 });
      const err = await judgeFile(path.join(dir, 'in.jsonl'), path.join(dir, 'out.jsonl'), {
        config,
        apiKey: 'sk-test',
        cacheDir: path.join(dir, 'cache'),
        limiterDir: path.join(dir, 'limiter'),
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(JudgeConfigError);
      expect((err as Error).message).toMatch(/the judge endpoint http:\/\/127.0.0.1:\d+\/v1\/chat\/completions sent a body over 64 MiB/);
      expect(fs.existsSync(path.join(dir, 'out.jsonl'))).toBe(false);
    } finally {
      await s.close();
    }
  });

  test('a reward server: a RewardServerConfigError naming it and the limit', async () => {
    const s = await oversized(80 * MiB, false);
    const dir = tmpDir('alignloop-body-');
    fs.writeFileSync(path.join(dir, 'rm.jinja'), "{% for m in messages %}{{ m['content'] }}{% endfor %}");
    const c = RewardServerLabelerSchema.parse({
      kind: 'reward-server',
      protocol: 'vllm',
      baseURL: s.url,
      model: 'rm',
      chatTemplate: path.join(dir, 'rm.jinja'),
      timeoutSeconds: 20,
      attempts: 2,
    });
    const caller = new RewardServerCaller(c, '', new ReplyCache(path.join(dir, 'cache'), 'rewards'), path.join(dir, 'limiter'));
    try {
      await expect(caller.score(['a text'])).rejects.toThrow(RewardServerConfigError);
      await expect(caller.score(['a text'])).rejects.toThrow(/the reward server http:\/\/127.0.0.1:\d+\/\w+ sent a body over 64 MiB/);
    } finally {
      await caller.close();
      await s.close();
    }
  });

  test('a readiness probe: not ready, saying the body was over 1 MiB', async () => {
    const s = await oversized(4 * MiB, false);
    try {
      expect(await probe(`${s.url}/v1/models`)).toEqual({ error: expect.stringMatching(/\/v1\/models sent a body over 1 MiB/) });
    } finally {
      await s.close();
    }
  });

  test("a judge batch's result file over 256 MiB: the shard fails naming the file and the limit", async () => {
    const batch = { id: 'batch_1', status: 'completed', output_file_id: 'file-out', error_file_id: null };
    const s = await oversized(300 * MiB, true, { '/v1/batches/batch_1': batch });
    const dir = tmpDir('alignloop-body-');
    try {
      writeJsonl(path.join(dir, 'in.jsonl'), quickstartSamples(1).slice(0, 1));
      const c = JudgeConfigSchema.parse({ kind: 'judge', baseURL: `${s.url}/v1`, model: 'judge', timeoutSeconds: 20, batch: { enabled: true } });
      const plan = await planJudging(path.join(dir, 'in.jsonl'), c);
      const err = await collectBatch(plan, {
        client: batchClient(c, 'sk-test'),
        cache: new JudgementCache(path.join(dir, 'cache')),
        batchId: 'batch_1',
        ledger: null,
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(JudgeSystemicError);
      expect((err as Error).message).toMatch(
        /result file file-out of batch batch_1: http:\/\/127.0.0.1:\d+\/v1\/files\/file-out\/content sent a body over 256 MiB/,
      );
    } finally {
      await s.close();
    }
  });
});
