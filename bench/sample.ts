/**
 * npm run bench:sample — the openai sampler against the local vLLM-like test server, in two settings:
 * 1. an instant server: alignloop's sampler (shared limiter lock, reply cache with fsync, seeds,
 *    records) against a bare openai-client loop sending the same requests at the same concurrency;
 *    the difference per request is alignloop's overhead (goal < 1 ms);
 * 2. a server with 50 ms latency and a request limit: the share of the limit used (goal >= 95%), 429s.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import OpenAI from 'openai';
import { sha256File } from '../activities/artifacts/atomic-file';
import { openaiSampler } from '../activities/samplers/openai/sampler';
import type { PromptRecord } from '../activities/prompts';
import { CampaignSchema } from '../activities/campaign/schema';
import { FakePolicyServer } from '../test/fakes/openai-policy-server';

const PROMPTS = Number(process.env.BENCH_PROMPTS ?? 2000);
const K = 4;
const IN_FLIGHT = 16;

function prompts(n: number): PromptRecord[] {
  return Array.from({ length: n }, (_, i) => ({ prompt_id: `p${i}`, prompt: [{ role: 'user', content: `Explain topic number ${i} in two sentences.` }] }));
}

function job(dir: string, s: FakePolicyServer, ps: PromptRecord[], limits: string) {
  const config = CampaignSchema.parse({
    name: 'bench',
    iterations: 1,
    prompts: { path: path.join(dir, 'p.jsonl'), perIteration: ps.length },
    sampler: { kind: 'openai', baseURL: s.baseURL, model: 'policy', samplesPerPrompt: K, maxTokens: 64, ...JSON.parse(limits) },
    labeler: { kind: 'reward-model', model: dir },
    feedback: { type: 'pairwise' },
    trainer: { kind: 'none' },
    artifacts: { root: path.join(dir, 'artifacts') },
  });
  const policy = path.join(dir, 'policy.json');
  fs.writeFileSync(policy, '{"name":"initial"}\n');
  if (config.sampler.kind !== 'openai') throw new Error('the bench samples from an openai sampler');
  return {
    settings: config.sampler,
    artifactsRoot: config.artifacts.root,
    campaignId: 'bench',
    iteration: 0,
    shard: 0,
    prompts: ps,
    promptsRef: { path: path.join(dir, 'p.jsonl'), sha256: '', count: ps.length, bytes: 0 },
    policy: { path: policy, sha256: sha256File(policy), count: 1, bytes: 18 },
    progress: () => undefined,
  };
}

async function raw(s: FakePolicyServer, ps: PromptRecord[]): Promise<number> {
  const client = new OpenAI({ apiKey: 'none', baseURL: s.baseURL, maxRetries: 0 });
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < ps.length) {
        const p = ps[next++];
        await client.chat.completions.create({ model: 'policy', messages: p.prompt as never, n: K, max_tokens: 64, seed: 1 });
      }
    }),
  );
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alignloop-bench-sample-'));
  const ps = prompts(PROMPTS);
  console.log(`${PROMPTS} prompts x ${K} samples (n=${K} per request), ${IN_FLIGHT} requests in flight\n`);

  const instant = await new FakePolicyServer({}).start();
  await raw(instant, prompts(200)); // warm up
  const tRaw = await raw(instant, ps);
  const limits = JSON.stringify({ limits: { requestsPerMinute: 1e7, tokensPerMinute: 1e10, maxInFlight: IN_FLIGHT } });
  const t0 = performance.now();
  const out = await openaiSampler.sample(job(dir, instant, ps, limits));
  const tOurs = performance.now() - t0;
  await instant.stop();
  const reqs = out.requests ?? PROMPTS;
  console.log(`instant server: bare openai-client loop ${(tRaw / 1000).toFixed(2)} s (${((PROMPTS * K) / (tRaw / 1000)).toFixed(0)} samples/s)`);
  console.log(
    `                alignloop sampler      ${(tOurs / 1000).toFixed(2)} s (${((PROMPTS * K) / (tOurs / 1000)).toFixed(0)} samples/s), ${out.records.length} samples`,
  );
  console.log(`                overhead ${((tOurs - tRaw) / reqs).toFixed(2)} ms per request (goal < 1 ms): shared limiter lock, fsync'd cache, records\n`);

  // Rate-limited: 50 ms latency, 600 requests per 10 s window at the server and in the sampler.
  const limitPerWindow = 600;
  const windowMs = 10_000;
  const limited = await new FakePolicyServer({ latencyMs: 50, requestsPerWindow: limitPerWindow, windowMs }).start();
  const dir2 = fs.mkdtempSync(path.join(os.tmpdir(), 'alignloop-bench-sample-'));
  const lim = JSON.stringify({
    limits: { requestsPerMinute: limitPerWindow * 6, tokensPerMinute: 1e10, maxInFlight: IN_FLIGHT, windowSeconds: windowMs / 1000 },
  });
  const n2 = Math.min(PROMPTS, 1500);
  const t1 = performance.now();
  await openaiSampler.sample(job(dir2, limited, prompts(n2), lim));
  const wall = (performance.now() - t1) / 1000;
  const times = limited.stats.admitted.slice().sort((a, b) => a - b);
  const achieved = (times.length - 1) / ((times[times.length - 1] - times[0]) / windowMs);
  console.log(`rate-limited server (50 ms latency, ${limitPerWindow} requests / ${windowMs / 1000} s): ${times.length} requests in ${wall.toFixed(1)} s`);
  console.log(
    `                achieved ${achieved.toFixed(0)} per window: ${((achieved / limitPerWindow) * 100).toFixed(1)}% of the limit (goal >= 95%), 429s ${limited.stats.rateLimited}`,
  );
  await limited.stop();
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(dir2, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
