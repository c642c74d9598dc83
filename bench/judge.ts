/**
 * npm run bench:judge — 2,000 pointwise judgements by two `alignloop judge` processes sharing one
 * rate limit, against the local OpenAI-compatible test server (which enforces the limit itself),
 * with limits set so the run takes about a minute. One process is SIGKILLed mid-run and restarted.
 * Reports achieved rate / limit (target >= 0.95), 429s and windows over the limit (target 0), items
 * lost (target 0) and calls repeated after the kill (target 0: a reply is cached before anything
 * else can block; only calls cut off in flight are bought again).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { JudgeConfigSchema } from '../activities/judge/config';
import { judgeFile } from '../activities/judge/judge-file';
import { FakeJudgeServer } from '../test/fakes/openai-judge-server';

const ROOT = path.resolve(__dirname, '..', '..');
const ITEMS = Number(process.env.BENCH_ITEMS ?? 2000);
const RPM = Number(process.env.BENCH_RPM ?? 2000);
const IN_FLIGHT = 8;

function judge(dir: string, k: number, cfg: string) {
  const child = spawn(
    process.execPath,
    [
      path.join(ROOT, 'dist/cli/main.js'),
      'judge',
      '--in',
      path.join(dir, `in${k}.jsonl`),
      '--out',
      path.join(dir, `out${k}.jsonl`),
      '--config',
      cfg,
      '--cache-dir',
      path.join(dir, 'cache'),
      '--limiter-dir',
      path.join(dir, 'limiter'),
      '--quiet',
    ],
    { env: { ...process.env, JUDGE_KEY: 'sk-bench' }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  return { child, done: new Promise<{ code: number | null; out: string }>((r) => child.on('exit', (code) => r({ code, out }))) };
}

async function main(): Promise<void> {
  const server = await new FakeJudgeServer({ apiKey: 'sk-bench', requestsPerWindow: RPM, windowMs: 60000, latencyMs: 50 }).start();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alignloop-bench-judge-'));
  for (const k of [0, 1]) {
    fs.writeFileSync(
      path.join(dir, `in${k}.jsonl`),
      Array.from({ length: ITEMS / 2 }, (_, i) =>
        JSON.stringify({
          prompt_id: `p${k}_${i}`,
          sample_id: 0,
          prompt: [{ role: 'user', content: `How do I do task ${k}-${i}?` }],
          output: `First plan step ${k}-${i}, next check it.`,
        }),
      ).join('\n') + '\n',
    );
  }
  const cfg = path.join(dir, 'judge.yaml');
  fs.writeFileSync(
    cfg,
    `kind: judge\nbaseURL: ${server.baseURL}\nmodel: judge-small\napiKeyEnv: JUDGE_KEY\ntimeoutSeconds: 10\n` +
      `limits: { requestsPerMinute: ${RPM}, tokensPerMinute: 100000000, maxInFlight: ${IN_FLIGHT} }\n`,
  );
  console.log(`${ITEMS} judgements, 2 processes sharing a limit of ${RPM} requests/min (the server enforces it too), ${IN_FLIGHT} in flight at most\n`);
  const t0 = Date.now();
  const a = judge(dir, 0, cfg);
  let b = judge(dir, 1, cfg);
  // Kill process 1 halfway through its share.
  while (server.stats.ok < ITEMS / 2) await new Promise((r) => setTimeout(r, 10));
  b.child.kill('SIGKILL');
  await b.done;
  const okAtKill = server.stats.ok;
  b = judge(dir, 1, cfg);
  const [ra, rb] = await Promise.all([a.done, b.done]);
  const wall = (Date.now() - t0) / 1000;
  const times = server.stats.admitted.map((x) => x.at).sort((x, y) => x - y);
  const span = (times[times.length - 1] - times[0]) / 60000;
  const achieved = (times.length - 1) / span;
  const labelled = [0, 1].reduce(
    (s, k) =>
      s +
      fs
        .readFileSync(path.join(dir, `out${k}.jsonl`), 'utf8')
        .trim()
        .split('\n')
        .filter((l) => JSON.parse(l).label_status === 'ok').length,
    0,
  );
  const distinct = server.stats.paidByRequest.size;
  const repeated = server.stats.ok - distinct;
  console.log(`exit codes ${ra.code}, ${rb.code}; wall ${wall.toFixed(1)} s; killed process 1 after ${okAtKill} paid calls in all`);
  console.log(`achieved ${achieved.toFixed(0)} requests/min of ${RPM}: ${((achieved / RPM) * 100).toFixed(1)}% of the limit (target >= 95%)`);
  // Windows the server measured over the limit (each admitted request opens one 60 s window).
  let over = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (j < times.length && times[j] < times[i] + 60000) j++;
    if (j - i > RPM) over++;
  }
  console.log(`429s received: ${server.stats.rateLimited}; windows over the limit: ${over} (target 0)`);
  console.log(`items lost: ${ITEMS - labelled} (target 0)`);
  console.log(`paid calls ${server.stats.ok} for ${distinct} distinct judgements: ${repeated} repeated after the kill (target <= ${IN_FLIGHT} in flight)`);
  console.log(`restarted process: ${rb.out.split('\n')[1] ?? ''}`);
  await server.stop();
  fs.rmSync(dir, { recursive: true, force: true });
  await money();
}

/**
 * Money and limits at a paid endpoint: the client is told twice the server's limit (which the
 * server advertises in x-ratelimit-limit-*), 2.5% of the replies each have no choices, a refusal,
 * garbage or a cut-off answer, all billed. Reports the 429 share and alignloop's cost against the bill.
 */
async function money(): Promise<void> {
  const n = Number(process.env.BENCH_MONEY_ITEMS ?? 300);
  const windowMs = 6000;
  const serverPerWindow = 30;
  const prices = { inputPerMTok: 2.5, outputPerMTok: 10 };
  const server = await new FakeJudgeServer({ apiKey: 'sk-bench', requestsPerWindow: serverPerWindow, windowMs, latencyMs: 50 }).start();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alignloop-bench-money-'));
  const faults = ['FAULT_NOCHOICES', 'FAULT_REFUSAL', 'FAULT_GARBAGE', 'FAULT_TRUNC'];
  const input = path.join(dir, 'in.jsonl');
  fs.writeFileSync(
    input,
    Array.from({ length: n }, (_, i) =>
      JSON.stringify({
        prompt_id: `m${i}`,
        sample_id: 0,
        prompt: [{ role: 'user', content: `How do I do task ${i}?` }],
        output: `First plan step ${i}, next check it.${i % 40 < faults.length ? ` ${faults[i % 40]}` : ''}`,
      }),
    ).join('\n') + '\n',
  );
  const config = JudgeConfigSchema.parse({
    kind: 'judge',
    baseURL: server.baseURL,
    model: 'judge-small',
    timeoutSeconds: 10,
    maxUnlabelledShare: 1,
    prices,
    limits: { requestsPerMinute: ((2 * serverPerWindow) / windowMs) * 60000, tokensPerMinute: 1e9, maxInFlight: 8, windowSeconds: windowMs / 1000 },
  });
  const t0 = Date.now();
  const r = await judgeFile(input, path.join(dir, 'out.jsonl'), {
    config,
    apiKey: 'sk-bench',
    cacheDir: path.join(dir, 'cache'),
    limiterDir: path.join(dir, 'limiter'),
  });
  const wall = (Date.now() - t0) / 1000;
  const after = server.stats.rejections.filter((x) => x.at > t0 + windowMs).length;
  const callsAfter = server.stats.calls - server.stats.rejections.filter((x) => x.at <= t0 + windowMs).length;
  console.log(
    `\n${n} judgements, the client told ${2 * serverPerWindow} requests / ${windowMs / 1000} s, the server allows ${serverPerWindow} and says so; 10% of replies unusable but billed`,
  );
  console.log(
    `429s: ${server.stats.rateLimited} of ${server.stats.calls} requests (${((server.stats.rateLimited / server.stats.calls) * 100).toFixed(1)}%); ` +
      `after the first window ${after} of ${callsAfter} (${((after / Math.max(1, callsAfter)) * 100).toFixed(1)}%, target < 1%); wall ${wall.toFixed(1)} s`,
  );
  const bill = server.billedUsd(prices);
  console.log(
    `reported ${r.paidCalls} paid calls / $${r.costUsd.toFixed(6)} (${r.paidUnlabelled} without a label); the server billed ${server.stats.billed.calls} calls / $${bill.toFixed(6)}: ` +
      `difference ${(((r.costUsd - bill) / bill) * 100).toFixed(2)}%`,
  );
  await server.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
