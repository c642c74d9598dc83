/**
 * Evaluation every iteration (eval:): held-out prompts answered by each new checkpoint and scored
 * against the initial policy's answers, the best checkpoint, the stop rule and the hacking guard,
 * through a real Temporal server, real worker processes, real ORT sessions and a real reward server.
 */
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EvalSummary } from '../../activities/eval/summary';
import { WORKFLOW_BUNDLE } from '../../workers/workers';
import { FakeJudgeServer } from '../fakes/openai-judge-server';
import { FakeRewardServer } from '../fakes/reward-server';
import { MODELS, QUICKSTART_PROMPTS, ROOT } from '../helpers/paths';
import { cli, cliAsync, cliEnv, killHard, runToEnd, spawnWorker, useTestServer, waitFor, writeCampaign } from '../helpers/temporal';

jest.setTimeout(900_000);

const ctx = useTestServer('alignloop-eval-it-');
const EVAL_PROMPTS = path.join(ROOT, 'examples', 'quickstart', 'eval-prompts.jsonl');
const evalBlock = (extra = '') => `eval: { prompts: ${EVAL_PROMPTS}, samplesPerPrompt: 2, seed: 7${extra} }`;

const iterDir = (id: string, it: number) => path.join(ctx.dir, 'artifacts', id, `iter-${String(it).padStart(3, '0')}`);
const manifest = (id: string, it: number) => JSON.parse(fs.readFileSync(path.join(iterDir(id, it), 'manifest.json'), 'utf8'));
type Scored = { prompt_id: string; sample_id: number; output: string; reward: number | null };
function records(dir: string): Scored[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .flatMap((f) =>
      fs
        .readFileSync(path.join(dir, f), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Scored),
    );
}

describe('the quickstart with an eval file', () => {
  const id = 'ev-1';
  beforeAll(async () => {
    const file = writeCampaign(ctx.dir, 'ev', { iterations: 3, extra: evalBlock() });
    const r = await runToEnd(ctx, id, file);
    expect(r).toMatchObject({ state: 'completed' });
  });

  test('every iteration records its eval metrics; the win rate is what the scored answers say against the baseline', () => {
    const baseline = records(path.join(iterDir(id, 0), 'eval', 'baseline', 'scored'));
    expect(baseline).toHaveLength(96); // 48 held-out prompts x 2
    const byKey = new Map(baseline.map((b) => [`${b.prompt_id}#${b.sample_id}`, b]));
    const training = new Set(
      fs
        .readFileSync(QUICKSTART_PROMPTS, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.stringify(JSON.parse(l).prompt)),
    );
    for (const it of [0, 1, 2]) {
      const e = manifest(id, it).eval as EvalSummary;
      const cur = records(path.join(iterDir(id, it), 'eval', 'scored'));
      expect(cur).toHaveLength(96);
      let wins = 0;
      let losses = 0;
      let ties = 0;
      for (const c of cur) {
        const b = byKey.get(`${c.prompt_id}#${c.sample_id}`)!;
        if (c.reward === b.reward) ties++;
        else if (c.reward! > b.reward!) wins++;
        else losses++;
      }
      expect(e).toMatchObject({ answers: 96, labelled: 96, prompts: 48, wins, losses, ties, baselineIteration: 0, truncatedShare: 0 });
      expect(e.winRate).toBeCloseTo((wins + ties / 2) / 96, 12);
      expect(e.winRateCi![0]).toBeLessThan(e.winRate!);
      expect(e.winRateCi![1]).toBeGreaterThan(e.winRate!);
      expect(e.lcWinRate).toBeGreaterThan(0);
      const meanLength = cur.reduce((s, c) => s + c.output.length, 0) / 96;
      expect(e.meanLength).toBeCloseTo(meanLength, 9);
      expect(e.rewardMean).toBeCloseTo(cur.reduce((s, c) => s + c.reward!, 0) / 96, 9);
      // the baseline's answers are made once, by the first evaluated iteration
      if (it > 0) expect(fs.existsSync(path.join(iterDir(id, it), 'eval', 'baseline'))).toBe(false);
    }
    // held-out: no eval answer is to a training prompt
    const evalPrompts = fs
      .readFileSync(EVAL_PROMPTS, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.stringify(JSON.parse(l).prompt));
    expect(evalPrompts.filter((p) => training.has(p))).toEqual([]);
    // the training policy learns from the reward model that scores the eval too: the last checkpoint beats the initial policy
    expect((manifest(id, 2).eval as EvalSummary).winRate).toBeGreaterThan(0.5);
  });

  test('`best` picks the iteration with the highest win rate, with its path and sha256; history and status mark it', () => {
    const rates = [0, 1, 2].map((it) => (manifest(id, it).eval as EvalSummary).winRate!);
    const expected = rates.indexOf(Math.max(...rates));
    const env = cliEnv(ctx.server.address);
    const b = cli(['best', id, '--json'], env);
    expect(b.status).toBe(0);
    const row = JSON.parse(b.stdout);
    expect(row).toMatchObject({ iteration: expected, by: 'winRate', checkpointIntact: true });
    expect(row.checkpointSha256).toBe(manifest(id, expected).lineage.checkpoint_out.sha256);
    expect(row.checkpoint).toBe(manifest(id, expected).lineage.checkpoint_out.path);
    const text = cli(['best', id], env);
    expect(text.stdout).toContain(`best checkpoint of ${id} by winRate: iteration ${expected}`);
    expect(text.stdout).toMatch(/win rate 0\.\d{3} \[0\.\d{3}, [01]\.\d{3}\] vs the initial policy/);
    const h = cli(['history', id], env);
    expect(h.stdout).toMatch(/eval win \[95% CI\]\s+LC win\s+eval reward\s+eval len\s+trunc/);
    expect(h.stdout).toMatch(new RegExp(`^\\s*\\*${expected}\\s`, 'm'));
    expect(h.stdout).toContain(`* best checkpoint by eval winRate: iteration ${expected}`);
    const s = cli(['status', id, '--json'], env);
    expect(JSON.parse(s.stdout).status.evaluation.best).toMatchObject({ iteration: expected, checkpointSha256: row.checkpointSha256 });
    expect(cli(['status', id], env).stdout).toContain(`best: iteration ${expected} by winRate`);
  });

  test("the campaign's and its iterations' histories (eval stage, best and stop-rule state carried across continue-as-new) replay deterministically", async () => {
    const runs: { workflowId: string; history: unknown }[] = [];
    for await (const w of ctx.client.workflow.list({ query: `WorkflowId = '${id}' OR WorkflowId STARTS_WITH '${id}/iter-'` })) {
      const h = await ctx.client.workflow.getHandle(w.workflowId, w.runId).fetchHistory();
      runs.push({ workflowId: w.workflowId, history: JSON.parse(historyToJSON(h)) });
    }
    expect(runs).toHaveLength(6); // 3 campaign runs, 3 iterations
    let n = 0;
    for await (const r of Worker.runReplayHistories({ workflowBundle: { codePath: WORKFLOW_BUNDLE } }, runs)) {
      expect([r.workflowId, r.error?.message]).toEqual([r.workflowId, undefined]);
      n++;
    }
    expect(n).toBe(6);
  });

  test('alignloop verify accounts for every eval artifact', () => {
    const v = cli(['verify', id, '--json'], cliEnv(ctx.server.address));
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, missing: [], changed: [], unexpected: [] });
    expect(v.status).toBe(0);
  });

  test('eval.labeler, another reward model than the campaign labeler: each has its own identity record, and verify checks both', async () => {
    const own = 'ev-own-1';
    const file = writeCampaign(ctx.dir, 'ev-own', {
      iterations: 1,
      extra: evalBlock(`, labeler: { kind: reward-model, model: ${MODELS.decoder}, threads: 1 }`),
    });
    expect(await runToEnd(ctx, own, file)).toMatchObject({ state: 'completed' });
    const rec = (name: string) => JSON.parse(fs.readFileSync(path.join(ctx.dir, 'artifacts', own, name), 'utf8')).versions.map((v: { dir: string }) => v.dir);
    expect(rec('labeler.json')).toEqual([MODELS.bt]);
    expect(rec('eval-labeler.json')).toEqual([MODELS.decoder]);
    const e = manifest(own, 0).eval as EvalSummary;
    expect(e.labelled).toBe(96);
    // scored by the decoder model, not the campaign's: the rewards differ from ev-1's for the same answers
    expect(e.rewardMean).not.toBeCloseTo((manifest(id, 0).eval as EvalSummary).rewardMean!, 6);
    expect(cli(['verify', own], cliEnv(ctx.server.address)).status).toBe(0);
  });

  test('a held-out file that shares a prompt with the training file is refused before anything starts, naming the line', () => {
    const bad = path.join(ctx.dir, 'bad-eval.jsonl');
    const held = fs.readFileSync(EVAL_PROMPTS, 'utf8').split('\n').filter(Boolean).slice(0, 3);
    const trainLine = fs.readFileSync(QUICKSTART_PROMPTS, 'utf8').split('\n')[5];
    fs.writeFileSync(bad, [...held, trainLine].join('\n') + '\n');
    const file = writeCampaign(ctx.dir, 'ev-bad', { extra: `eval: { prompts: ${bad} }` });
    const r = cli(['validate', file], cliEnv(ctx.server.address));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`eval.prompts: ${bad}:4: 1 held-out prompt(s) are also in the training prompts`);
  });
});

describe('eval.baseline: best', () => {
  test("each evaluation after the first compares with the best checkpoint's own eval answers; best follows the checkpoints that beat it", async () => {
    const id = 'ev-vs-best-1';
    const file = writeCampaign(ctx.dir, 'ev-vs-best', { iterations: 3, extra: evalBlock(', baseline: best') });
    expect(await runToEnd(ctx, id, file)).toMatchObject({ state: 'completed' });
    const scored = (it: number, stage: string) =>
      new Map(records(path.join(iterDir(id, it), ...stage.split('/'), 'scored')).map((r) => [`${r.prompt_id}#${r.sample_id}`, r.reward!]));
    let best = -1;
    for (const it of [0, 1, 2]) {
      const e = manifest(id, it).eval as EvalSummary;
      // the first evaluation is against the initial policy; later ones against the best so far, whose answers are read, not made again
      const [baseIt, baseStage] = it === 0 ? [0, 'eval/baseline'] : [best, 'eval'];
      expect(e.baselineIteration).toBe(baseIt);
      expect(e.against).toBe(it === 0 ? undefined : 'best');
      if (it > 0) expect(fs.existsSync(path.join(iterDir(id, it), 'eval', 'baseline'))).toBe(false);
      const base = scored(baseIt, baseStage);
      let [wins, losses, ties] = [0, 0, 0];
      for (const [k, r] of scored(it, 'eval')) {
        const b = base.get(k)!;
        if (r === b) ties++;
        else if (r > b) wins++;
        else losses++;
      }
      expect(e).toMatchObject({ wins, losses, ties });
      const beats = it === 0 || (wins + ties / 2) / 96 > 0.5;
      if (beats) best = it;
      expect(e.best).toMatchObject({ isBest: beats, bestIteration: best });
    }
    expect(JSON.parse(cli(['best', id, '--json'], cliEnv(ctx.server.address)).stdout).iteration).toBe(best);
  });
});

describe('SIGKILL mid-eval', () => {
  test('the score worker killed while eval answers are scored: nothing finished is redone, and the metrics are those of an uninterrupted run', async () => {
    const id = 'ev-kill-1';
    // The same campaign as ev-1 (same seeds), one iteration: its eval must come out the same.
    const file = writeCampaign(ctx.dir, 'ev-kill', { iterations: 1, extra: evalBlock() });
    const env = cliEnv(ctx.server.address);
    const others = spawnWorker(env, 'control,sample,train');
    let scorer = spawnWorker({ ...env, ALIGNLOOP_TEST_SLOW_MS: '400' }, 'score');
    const evalDir = path.join(iterDir(id, 0), 'eval');
    const doneFiles = () =>
      ['scored', 'baseline/scored', 'samples', 'baseline/samples'].flatMap((s) => {
        const d = path.join(evalDir, s);
        return fs.existsSync(d)
          ? fs
              .readdirSync(d)
              .filter((f) => f.endsWith('.done.json'))
              .map((f) => path.join(d, f))
          : [];
      });
    try {
      expect(cli(['start', file, '--id', id], env).status).toBe(0);
      await waitFor('some eval shards scored', () => doneFiles().filter((f) => f.includes(`${path.sep}scored${path.sep}`)).length >= 2 || null, 300000, 20);
      expect(fs.existsSync(path.join(evalDir, 'metrics.json'))).toBe(false);
      const before = new Map(
        doneFiles().flatMap((d) => {
          const data = d.replace(/\.done\.json$/, '');
          return [d, data].map((f) => [f, { mtime: fs.statSync(f).mtimeMs, bytes: fs.readFileSync(f) }] as const);
        }),
      );
      await killHard(scorer);
      scorer = spawnWorker(env, 'score');
      const result = await ctx.client.workflow.getHandle(id).result();
      expect(result).toMatchObject({ state: 'completed' });
      for (const [f, was] of before) {
        expect(fs.statSync(f).mtimeMs).toBe(was.mtime);
        expect(fs.readFileSync(f).equals(was.bytes)).toBe(true);
      }
      expect(doneFiles()).toHaveLength(48); // 12 shards x (answers, baseline answers) x (samples, scored)
      const { metricsFile: _a, ...killed } = manifest(id, 0).eval as EvalSummary;
      const { metricsFile: _b, best: _c, ...clean } = manifest('ev-1', 0).eval as EvalSummary;
      expect(killed).toMatchObject(clean);
    } finally {
      await killHard(scorer);
      await killHard(others);
    }
  });
});

describe('a policy that hacks a length-biased reward model', () => {
  let server: FakeRewardServer;
  const TEMPLATE = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}";
  beforeAll(async () => {
    // Rewards the length of the answer and nothing else.
    server = await new FakeRewardServer({ protocol: 'vllm', model: 'rm', reward: (t) => t.length / 100 }).start();
    fs.writeFileSync(path.join(ctx.dir, 'rm.jinja'), TEMPLATE);
  });
  afterAll(() => server?.stop());

  test('trips the hacking guard: the campaign pauses with the numbers, and `best` still names a checkpoint', async () => {
    const id = 'hack-1';
    const file = writeCampaign(ctx.dir, 'hack', {
      iterations: 8,
      labeler:
        `{ kind: reward-server, protocol: vllm, baseURL: ${server.baseURL}, model: rm, chatTemplate: rm.jinja, batchSize: 16, timeoutSeconds: 5, ` +
        'limits: { requestsPerMinute: 60000, tokensPerMinute: 100000000, maxInFlight: 2 } }',
      trainer: '{ kind: builtin, method: dpo, beta: 0.1, learningRate: 1.0, epochs: 50 }',
      extra: evalBlock(`, hackingGuard: true, maxLengthRatio: 1.3, labeler: { kind: reward-model, model: ${MODELS.bt}, batchTokens: 8192, threads: 1 }`),
    });
    const env = cliEnv(ctx.server.address);
    const r = await cliAsync(['run', file, '--id', id], env);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/campaign hack-1 is paused: hacking guard \(iteration (\d+)\): mean eval answer length [\d.]+ chars is [\d.]+x the baseline's/);
    const at = Number(/hacking guard \(iteration (\d+)\)/.exec(r.stderr)![1]);
    expect(at).toBeLessThan(7);
    const s = JSON.parse(cli(['status', id, '--json'], env).stdout);
    expect(s.state).toBe('paused');
    // the numbers in the reason are the manifest's
    const e = manifest(id, at).eval as EvalSummary;
    expect(e.meanLength! / e.baselineMeanLength!).toBeGreaterThan(1.3);
    expect(s.status.pauseReason).toContain(
      `mean eval answer length ${e.meanLength!.toFixed(1)} chars is ${(e.meanLength! / e.baselineMeanLength!).toFixed(2)}x`,
    );
    // the training reward (answer length) rose on the way
    const rewards = Array.from({ length: at + 1 }, (_, i) => manifest(id, i).reward.mean as number);
    expect(rewards[at]).toBeGreaterThan(rewards[0]);
    for (let i = 0; i < at; i++) expect((manifest(id, i).eval as EvalSummary).meanLength! / e.baselineMeanLength!).toBeLessThanOrEqual(1.3);
    expect(cli(['best', id], env).status).toBe(0);
    expect(cli(['stop', id], env).status).toBe(0);
  });
});

describe('a policy trained toward bad answers (a reward model that pays for rudeness)', () => {
  let server: FakeRewardServer;
  const TEMPLATE = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}";
  const bad = (t: string) => (t.toLowerCase().match(/\b(whatever|boring|figure|yourself|why would)\b/g) ?? []).length;
  const campaign = (name: string, evalExtra: string) =>
    writeCampaign(ctx.dir, name, {
      iterations: 8,
      labeler:
        `{ kind: reward-server, protocol: vllm, baseURL: ${server.baseURL}, model: rm, chatTemplate: rm-bad.jinja, batchSize: 16, timeoutSeconds: 5, ` +
        'limits: { requestsPerMinute: 60000, tokensPerMinute: 100000000, maxInFlight: 2 } }',
      trainer: '{ kind: builtin, method: dpo, beta: 0.1, learningRate: 0.5, epochs: 30 }',
      extra: evalBlock(`, labeler: { kind: reward-model, model: ${MODELS.bt}, batchTokens: 8192, threads: 1 }${evalExtra}`),
    });
  beforeAll(async () => {
    server = await new FakeRewardServer({ protocol: 'vllm', model: 'rm', reward: bad }).start();
    fs.writeFileSync(path.join(ctx.dir, 'rm-bad.jinja'), TEMPLATE);
  });
  afterAll(() => server?.stop());

  test('stopWhen.noImprovement ends the campaign after K evaluations without a better best, as the recorded evaluations say', async () => {
    const id = 'stop-1';
    const r = await cliAsync(['run', campaign('stop', ', bestBy: rewardMean, stopWhen: { noImprovement: 2 }'), '--id', id], cliEnv(ctx.server.address));
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/campaign stop-1 stopped/);
    // The rule applied to the manifests by hand: where it must have stopped.
    let best = -Infinity;
    let since = 0;
    let stopAt = -1;
    for (let it = 0; stopAt < 0 && it < 8; it++) {
      const v = (manifest(id, it).eval as EvalSummary).rewardMean!;
      if (v > best) [best, since] = [v, 0];
      else if (++since >= 2) stopAt = it;
    }
    expect(stopAt).toBeGreaterThan(0);
    expect(fs.existsSync(path.join(iterDir(id, stopAt + 1), 'manifest.json'))).toBe(false);
    const s = JSON.parse(cli(['status', id, '--json'], cliEnv(ctx.server.address)).stdout);
    expect(s.state).toBe('stopped');
    expect(s.status.evaluation.stopReason).toMatch(/^eval\.stopWhen\.noImprovement: 2 evaluation\(s\) without a better rewardMean than iteration \d+'s/);
    expect(cli(['best', id, '--json'], cliEnv(ctx.server.address)).stdout).toContain(`"by": "rewardMean"`);
  });

  test('hackingGuard: the training reward rising while the eval win rate falls pauses the campaign with the numbers', async () => {
    const id = 'trend-1';
    const r = await cliAsync(['run', campaign('trend', ', hackingGuard: true, maxLengthRatio: 100'), '--id', id], cliEnv(ctx.server.address));
    expect(r.status).toBe(1);
    const m =
      /hacking guard \(iteration (\d+)\): training reward rose ([-\d.]+) -> ([-\d.]+) -> ([-\d.]+) while the eval win rate fell ([\d.]+) -> ([\d.]+) -> ([\d.]+)/.exec(
        r.stderr,
      );
    expect(m).not.toBeNull();
    const at = Number(m![1]);
    const pts = [at - 2, at - 1, at].map((it) => ({ reward: manifest(id, it).reward.mean as number, win: (manifest(id, it).eval as EvalSummary).winRate! }));
    expect(m!.slice(2, 5).map(Number)).toEqual(pts.map((p) => Number(p.reward.toFixed(3))));
    expect(m!.slice(5, 8).map(Number)).toEqual(pts.map((p) => Number(p.win.toFixed(3))));
    expect(pts[2].win).toBeLessThan(pts[1].win);
    expect(pts[1].win).toBeLessThan(pts[0].win);
    expect(JSON.parse(cli(['status', id, '--json'], cliEnv(ctx.server.address)).stdout).state).toBe('paused');
    expect(cli(['stop', id], cliEnv(ctx.server.address)).status).toBe(0);
  });
});

describe('eval.judge: an LLM judge compares each eval answer with the baseline answer, both orders', () => {
  let judge: FakeJudgeServer;
  const PRICES = { inputPerMTok: 100, outputPerMTok: 400 };
  const judgeBlock = () =>
    `judge: { kind: judge, mode: pairwise, baseURL: ${judge.baseURL}, model: judge-small, apiKeyEnv: JUDGE_API_KEY, timeoutSeconds: 5, ` +
    `prices: { inputPerMTok: ${PRICES.inputPerMTok}, outputPerMTok: ${PRICES.outputPerMTok} }, limits: { requestsPerMinute: 60000, tokensPerMinute: 100000000, maxInFlight: 8 } }`;
  type Judged = { prompt_id: string; sample_ids: number[]; presented: string[]; winner: string | null; label_status: string };
  beforeAll(async () => {
    judge = await new FakeJudgeServer({ apiKey: 'sk-eval-key', structuredOutput: true, positionBias: 0.2 }).start();
  });
  afterAll(() => judge?.stop());

  test('the win rate is the judge verdicts; its cost is booked as the campaign spend, and a spent budget pauses mid-eval and resumes without paying twice', async () => {
    const id = 'ev-judge-1';
    const env = cliEnv(ctx.server.address, { JUDGE_API_KEY: 'sk-eval-key' });
    // ~$0.02 a judgement, 192 per evaluation (96 pairs x 2 orders): $1 runs out inside the first eval.
    const file = writeCampaign(ctx.dir, 'ev-judge', { iterations: 2, extra: `${evalBlock(`, ${judgeBlock()}`)}\nbudget: { usd: 1 }` });
    const worker = spawnWorker(env);
    try {
      expect(cli(['start', file, '--id', id], env).status).toBe(0);
      const paused = await waitFor(
        'the budget pause',
        async () => {
          const s = JSON.parse(cli(['status', id, '--json'], env).stdout);
          return s.state === 'paused' ? s : null;
        },
        300000,
        500,
      );
      expect(paused.status.pauseReason).toMatch(/budget reached: \$[\d.]+ spent of \$1\.0000/);
      expect(paused.status.completed).toBe(0);
      const judgedBefore = fs.existsSync(path.join(iterDir(id, 0), 'eval', 'judged'))
        ? fs.readdirSync(path.join(iterDir(id, 0), 'eval', 'judged')).filter((f) => f.endsWith('.done.json')).length
        : 0;
      expect(judgedBefore).toBeLessThan(12);
      expect(cli(['resume', id, '--budget', '50'], env).status).toBe(0);
      expect(await ctx.client.workflow.getHandle(id).result()).toMatchObject({ state: 'completed' });
    } finally {
      await killHard(worker);
    }
    let spent = 0;
    for (const it of [0, 1]) {
      const m = manifest(id, it);
      const e = m.eval as EvalSummary;
      const judged = records(path.join(iterDir(id, it), 'eval', 'judged')) as unknown as Judged[];
      expect(judged).toHaveLength(96);
      let [wins, losses, ties] = [0, 0, 0];
      for (const j of judged) {
        expect(j.presented).toEqual(['xy', 'yx']); // both orders, always
        expect(j.sample_ids).toEqual([0, 1]); // the eval answer is sample 0, the baseline's 1
        if (j.label_status === 'tie' || j.label_status === 'inconsistent') ties++;
        else if (j.winner === 'x') wins++;
        else if (j.winner === 'y') losses++;
      }
      expect(judged.some((j) => j.label_status === 'inconsistent')).toBe(true); // the position-biased judge disagrees with itself: a tie
      expect(e).toMatchObject({ winRateBy: 'judge', wins, losses, ties, judged: { pairs: 96 } });
      expect(e.winRate).toBeCloseTo((wins + ties / 2) / (wins + losses + ties), 12);
      expect(e.labelled).toBe(96); // the reward model still scores every answer: rewardMean
      spent += m.cost.judge_usd;
    }
    // Every judgement was paid once: what the manifests booked is the provider's bill, and the campaign's spend.
    expect(spent).toBeCloseTo(judge.billedUsd(PRICES), 6);
    const s = JSON.parse(cli(['status', id, '--json'], cliEnv(ctx.server.address)).stdout);
    expect(s.status.spentUsd).toBeCloseTo(spent, 6);
    expect(fs.existsSync(path.join(ctx.dir, 'artifacts', id, 'judge-cache'))).toBe(true);
  });

  test('an eval judge that is not pairwise is refused by validate, naming the setting', () => {
    const file = writeCampaign(ctx.dir, 'ev-judge-bad', {
      extra: evalBlock(`, judge: { kind: judge, mode: pointwise, baseURL: ${judge.baseURL}, model: judge-small }`),
    });
    const r = cli(['validate', file], cliEnv(ctx.server.address));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/eval\.judge: the eval judge compares two answers: use kind: judge with mode: pairwise \(got kind judge, mode pointwise\)/);
  });
});
