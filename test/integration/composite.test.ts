/**
 * Composite labeling with real parts: the shipped math verifier (a Python subprocess) gates, the quickstart
 * reward model (ONNX Runtime) and the fake judge server (billing like a provider) score what it passed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { campaignStatusQuery } from '../../workflows/messages';
import { sha256File } from '../../activities/artifacts/atomic-file';
import { FakeJudgeServer, hiddenScore } from '../fakes/openai-judge-server';
import { drawnCharts } from '../helpers/chromium';
import { MODELS, ROOT } from '../helpers/paths';
import { cli, cliEnv, killHard, spawnWorker, useTestServer, waitFor, writeCampaign } from '../helpers/temporal';

jest.setTimeout(600_000);

const ctx = useTestServer('alignloop-composite-it-');
const EXAMPLE = path.join(ROOT, 'examples', 'composite');
const CHECKER = path.join(EXAMPLE, 'check_math.py');
let judge: FakeJudgeServer;

beforeAll(async () => {
  judge = await new FakeJudgeServer({ apiKey: 'sk-composite-key', structuredOutput: true }).start();
});
afterAll(async () => {
  await judge?.stop();
});

const readJsonl = (file: string) =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

function labeler(o: { verifier?: string; extra?: string; judgeExtra?: string } = {}): string {
  return (
    `{ kind: composite, combine: gate-then-weighted, length: { control: regress }${o.extra ?? ''}, members: [` +
    `{ name: math, gate: true, labeler: { kind: verifier, command: [python3, ${o.verifier ?? CHECKER}, '{{in}}', '{{out}}'], timeoutSeconds: 20 } }, ` +
    `{ name: rm, normalize: zscore, labeler: { kind: reward-model, model: ${MODELS.bt}, batchTokens: 2048, threads: 1 } }, ` +
    `{ name: judge, weight: 0.5, normalize: rank, labeler: { kind: judge, baseURL: ${judge.baseURL}, model: judge-small, apiKeyEnv: JUDGE_API_KEY, timeoutSeconds: 5, ${o.judgeExtra ?? ''}` +
    `limits: { requestsPerMinute: 60000, tokensPerMinute: 100000000, maxInFlight: 4 } } } ] }`
  );
}

const campaign = (name: string, o: Parameters<typeof labeler>[0] = {}) =>
  writeCampaign(ctx.dir, name, {
    iterations: 2,
    perIteration: 8,
    samplesPerPrompt: 6,
    promptsPath: path.join(EXAMPLE, 'prompts.jsonl'),
    labeler: labeler(o),
    promptsPerShard: 2,
  });

test('verifier gate + reward model + judge: the judge is asked only about answers the verifier passed; every member is in audit records, manifest and lineage', async () => {
  const file = campaign('jury', { extra: ', disagreement: { drop: true, minAgreement: 0.6 }' });
  const env = cliEnv(ctx.server.address, { JUDGE_API_KEY: 'sk-composite-key' });
  const paidBefore = judge.stats.ok;
  const worker = spawnWorker(env);
  try {
    expect(cli(['start', file, '--id', 'jury-1'], env).status).toBe(0);
    expect((await ctx.client.workflow.getHandle('jury-1').result()).state).toBe('completed');
  } finally {
    await killHard(worker);
  }
  let paidTotal = 0;
  let dropped = 0;
  for (const it of ['iter-000', 'iter-001']) {
    const m = JSON.parse(fs.readFileSync(path.join(ctx.dir, 'artifacts', 'jury-1', it, 'manifest.json'), 'utf8'));
    const scored = m.artifacts.scored.flatMap((r: { path: string }) => readJsonl(r.path));
    expect(scored).toHaveLength(48);
    const c = m.composite;
    expect(c.gate.passed + c.gate.failed + c.gate.unlabelled).toBe(48);
    expect(c.gate.failed).toBeGreaterThan(0);
    expect(c.gate.passed).toBeGreaterThan(0);
    // The paid members were not asked about what the gate failed.
    expect(c.notAsked).toEqual({ rm: 48 - c.gate.passed, judge: 48 - c.gate.passed });
    expect(c.members.judge.asked).toBe(c.gate.passed);
    expect(m.cost.paid_calls + m.cost.cache_hits).toBe(c.gate.passed);
    paidTotal += m.cost.paid_calls;
    for (const r of scored) {
      const right = r.composite.members.math.pass === true;
      expect(r.composite.gate).toBe(right ? 'pass' : r.composite.members.math.pass === false ? 'fail' : null);
      if (right) {
        // Every member's raw and normalised score, and the combined reward, for audit.
        expect(r.composite.members.judge.raw).toBe(hiddenScore(r.output));
        expect(typeof r.composite.members.rm.raw).toBe('number');
        expect(typeof r.composite.members.rm.norm).toBe('number');
        expect(r.composite.members.judge.norm).toBeGreaterThanOrEqual(0);
        expect(r.composite.members.judge.norm).toBeLessThanOrEqual(1);
        expect(r.label_status).toBe('ok');
        expect(typeof r.reward).toBe('number');
      } else {
        expect(r.composite.members.judge).toEqual({ asked: false });
        expect(r.composite.members.rm).toEqual({ asked: false });
      }
    }
    // The gate-failed ones default to drop: unlabelled, counted.
    expect(m.counts.unlabelled.gate_failed).toBe(c.gate.failed);
    expect(m.counts.scored).toBe(c.gate.passed);
    expect(c.agreement.map((a: { a: string; b: string }) => `${a.a}-${a.b}`)).toEqual(['math-rm', 'math-judge', 'rm-judge']);
    expect(c.agreement[2].samples).toBe(c.gate.passed);
    expect(c.length.control).toBe('regress');
    expect(Math.abs(c.length.corrAfter)).toBeLessThan(1e-6);
    expect(m.lineage.labeler.kind).toBe('composite');
    expect(m.lineage.labeler.members.math).toEqual({
      kind: 'verifier',
      argv: ['python3', CHECKER, '{{in}}', '{{out}}'],
      files_sha256: { [CHECKER]: sha256File(CHECKER) },
    });
    expect(m.lineage.labeler.members.rm.model_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(m.lineage.labeler.members.judge).toMatchObject({ kind: 'judge', model: 'judge-small', template_sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    // Pairs come from the combined rewards of the samples that passed, less those the members order differently.
    expect(m.counts.examples).toBeGreaterThan(0);
    const byId = new Map(scored.map((r: { prompt_id: string; sample_id: number }) => [`${r.prompt_id}/${r.sample_id}`, r]));
    for (const p of readJsonl(m.artifacts.feedback.jsonl.path)) {
      const [w, l] = (p.label === 1 ? p.sample_ids : [...p.sample_ids].reverse()).map((id: number) => byId.get(`${p.prompt_id}/${id}`));
      for (const member of ['rm', 'judge']) expect(w.composite.members[member].raw).toBeGreaterThanOrEqual(l.composite.members[member].raw);
    }
    expect(m.feedback.pairs_dropped_by_disagreement).toEqual(expect.any(Object));
    dropped += Object.values(m.feedback.pairs_dropped_by_disagreement as Record<string, number>).reduce((a, b) => a + b, 0);
  }
  expect(dropped).toBeGreaterThan(0);
  // Each judgement was bought once: what the provider billed is what the manifests count.
  expect(judge.stats.ok - paidBefore).toBe(paidTotal);
  // audit shows every member's raw and normalised score, the gate and the combined reward of each sample
  const audit = cli(['audit', 'jury-1', '--iteration', '0', '--example', '0', '--root', path.join(ctx.dir, 'artifacts')], env);
  expect(audit.status).toBe(0);
  expect(audit.stdout).toMatch(/reproduced by re-running the feedback stage: yes/);
  expect(audit.stdout).toMatch(
    /members: math pass raw 1 norm -?[\d.]+; rm raw -?[\d.]+ norm -?[\d.]+; judge raw \d+ norm [\d.]+; gate pass; combined -?[\d.]+/,
  );
  expect(audit.stdout).toMatch(/members: math fail raw 0 norm -?[\d.]+; rm not asked; judge not asked; gate fail; combined null/);
  // diff: agreement of every two members, length bias, gate outcomes
  const diff = cli(['diff', 'jury-1', '--iterations', '0', '1', '--root', path.join(ctx.dir, 'artifacts')], env);
  expect(diff.status).toBe(0);
  expect(diff.stdout).toMatch(/members rm-judge: pairwise agreement/);
  expect(diff.stdout).toMatch(/members rm-judge: rank correlation/);
  expect(diff.stdout).toMatch(/length-reward correlation \(after length control\)/);
  expect(diff.stdout).toMatch(/judge: samples not asked \(gate\)/);
  // report: one more plot, the members' agreement and the length bias, drawn by a real browser
  const html = path.join(ctx.dir, 'jury.html');
  expect(cli(['report', 'jury-1', '--out', html, '--root', path.join(ctx.dir, 'artifacts')], env).status).toBe(0);
  expect(fs.readFileSync(html, 'utf8')).toContain("members' pairwise agreement");
  const drawn = drawnCharts(html);
  expect(drawn.counts).toEqual([7, 7, 0]);
  expect(drawn.stderr).not.toMatch(/Uncaught|CONSOLE.*(error|Error)/);
});

test('SIGKILL the score worker mid-composite: no member re-labels a finished shard, and the rewards equal an uninterrupted run', async () => {
  const file = campaign('jury-crash');
  const env = cliEnv(ctx.server.address, { JUDGE_API_KEY: 'sk-composite-key' });
  const paidBefore = judge.stats.ok;
  const others = spawnWorker(env, 'control,sample,judge,train');
  let score = spawnWorker({ ...env, ALIGNLOOP_TEST_SLOW_MS: '400' }, 'score');
  const iter0 = path.join(ctx.dir, 'artifacts', 'jury-crash-1', 'iter-000');
  const done = (member: string) =>
    fs.existsSync(path.join(iter0, 'members', member)) ? fs.readdirSync(path.join(iter0, 'members', member)).filter((f) => f.endsWith('.jsonl.done.json')) : [];
  try {
    expect(cli(['start', file, '--id', 'jury-crash-1'], env).status).toBe(0);
    await waitFor('a reward-model member shard done, not all', () => done('rm').length >= 1 && done('rm').length < 4, 240_000, 20);
    const gatesDone = done('math');
    // Completion records written before the kill, with their times: a shard redone would write its record again.
    const before = new Map(
      ['math', 'rm', 'judge'].flatMap((m) =>
        done(m).map((f) => [path.join(iter0, 'members', m, f), fs.statSync(path.join(iter0, 'members', m, f)).mtimeMs] as const),
      ),
    );
    expect(before.size).toBeGreaterThan(0);
    await killHard(score);
    score = spawnWorker(env, 'score');
    expect((await ctx.client.workflow.getHandle('jury-crash-1').result()).state).toBe('completed');
    for (const [f, t] of before) expect([f, fs.statSync(f).mtimeMs]).toEqual([f, t]);
    expect(done('rm')).toHaveLength(4);
    // A gate shard finished before the kill was never run again: one start in its log.
    for (const f of gatesDone) {
      const log = path.join(iter0, 'verifier', 'math', f.replace('.jsonl.done.json', ''), 'verifier.log');
      expect(fs.readFileSync(log, 'utf8').match(/alignloop starts/g)).toHaveLength(1);
    }
  } finally {
    await killHard(score);
    await killHard(others);
  }
  // The same rewards as the uninterrupted campaign of the first test (same seeds, same data).
  const a = JSON.parse(fs.readFileSync(path.join(iter0, 'manifest.json'), 'utf8'));
  const b = JSON.parse(fs.readFileSync(path.join(ctx.dir, 'artifacts', 'jury-1', 'iter-000', 'manifest.json'), 'utf8'));
  const rewards = (m: { artifacts: { scored: { path: string }[] } }) => m.artifacts.scored.flatMap((r) => readJsonl(r.path).map((x) => x.reward));
  expect(rewards(a)).toEqual(rewards(b));
  const paid = ['iter-000', 'iter-001'].reduce(
    (s, it) => s + JSON.parse(fs.readFileSync(path.join(ctx.dir, 'artifacts', 'jury-crash-1', it, 'manifest.json'), 'utf8')).cost.paid_calls,
    0,
  );
  expect(judge.stats.ok - paidBefore).toBe(paid);
});

test('a verifier that crashes, hangs or prints garbage pauses the campaign with a clear reason', async () => {
  const env = cliEnv(ctx.server.address, { JUDGE_API_KEY: 'sk-composite-key' });
  const bad = {
    crash: `import sys\nprint("checker exploded", file=sys.stderr)\nsys.exit(3)\n`,
    garbage: `import sys\nopen(sys.argv[2], "w").write("PASS PASS\\n")\n`,
    hang: `import time\ntime.sleep(600)\n`,
  };
  const worker = spawnWorker(env);
  try {
    for (const [what, code] of Object.entries(bad)) {
      const script = path.join(ctx.dir, `verifier-${what}.py`);
      fs.writeFileSync(script, code);
      const file = campaign(`bad-${what}`, { verifier: script });
      if (what === 'hang') fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('timeoutSeconds: 20', 'timeoutSeconds: 2'));
      expect(cli(['start', file, '--id', `bad-${what}`], env).status).toBe(0);
      const h = ctx.client.workflow.getHandle(`bad-${what}`);
      const s = await waitFor(
        `the ${what} pause`,
        async () => {
          const q = await h.query(campaignStatusQuery).catch(() => null);
          return q?.state === 'failed-paused' ? q : null;
        },
        120_000,
        3000,
      );
      expect(s.failure).toMatchObject({ stage: 'score', activity: 'scoreMemberShard', errorType: 'ProcessFailed', retryState: 'NON_RETRYABLE_FAILURE' });
      expect(s.pauseReason).toMatch(
        {
          crash: /verifier exited with code 3.*checker exploded/s,
          garbage: /verifier's output .* is not valid: line 1 is not JSON: "PASS PASS"/,
          hang: /did not finish .* within labeler.members\[0\].labeler.timeoutSeconds \(2 s\); its process group was killed/,
        }[what]!,
      );
      await h.terminate();
    }
  } finally {
    await killHard(worker);
  }
});

test('a verifier alone labels a campaign: rewards are its verdicts, its identity is in the lineage', async () => {
  const file = writeCampaign(ctx.dir, 'verified', {
    iterations: 1,
    perIteration: 8,
    samplesPerPrompt: 4,
    promptsPath: path.join(EXAMPLE, 'prompts.jsonl'),
    labeler: `{ kind: verifier, command: [python3, check_math.py, '{{in}}', '{{out}}'], workDir: ${EXAMPLE} }`,
    feedback: '{ type: binary, threshold: 0.5 }',
    trainer: '{ kind: builtin, method: kto, beta: 0.1, epochs: 5 }',
  });
  const env = cliEnv(ctx.server.address);
  const worker = spawnWorker(env);
  try {
    expect(cli(['start', file, '--id', 'verified-1'], env).status).toBe(0);
    expect((await ctx.client.workflow.getHandle('verified-1').result()).state).toBe('completed');
  } finally {
    await killHard(worker);
  }
  const m = JSON.parse(fs.readFileSync(path.join(ctx.dir, 'artifacts', 'verified-1', 'iter-000', 'manifest.json'), 'utf8'));
  const scored = m.artifacts.scored.flatMap((r: { path: string }) => readJsonl(r.path));
  expect(scored).toHaveLength(32);
  for (const r of scored) {
    expect(r.reward).toBe(r.verifier_pass ? 1 : 0);
    // the checker's rule, restated: the last number of the answer is the question's result
    const [, a, op, b] = /(-?\d+)\s*([-+*])\s*(-?\d+)/.exec(r.prompt[0].content)!;
    const want = op === '+' ? +a + +b : op === '-' ? +a - +b : +a * +b;
    const last = (r.output as string).match(/-?\d+(\.\d+)?/g)?.pop();
    expect(r.verifier_pass).toBe(last !== undefined && Number(last) === want);
  }
  expect(m.counts.scored).toBe(32);
  expect(m.lineage.labeler).toEqual({
    kind: 'verifier',
    argv: ['python3', 'check_math.py', '{{in}}', '{{out}}'],
    files_sha256: { 'check_math.py': sha256File(CHECKER) },
  });
  expect(m.counts.examples).toBe(32);
});

test('the judge member stops at the campaign budget: the campaign pauses (not fails), and resuming with more pays nothing twice', async () => {
  const file = writeCampaign(ctx.dir, 'jury-budget', {
    iterations: 1,
    perIteration: 8,
    samplesPerPrompt: 6,
    promptsPath: path.join(EXAMPLE, 'prompts.jsonl'),
    labeler: labeler({ judgeExtra: 'prices: { inputPerMTok: 100, outputPerMTok: 400 }, ' }),
    promptsPerShard: 2,
    extra: 'budget: { usd: 0.05 }',
  });
  const env = cliEnv(ctx.server.address, { JUDGE_API_KEY: 'sk-composite-key' });
  const paidBefore = judge.stats.ok;
  const worker = spawnWorker(env);
  try {
    expect(cli(['start', file, '--id', 'jury-budget-1'], env).status).toBe(0);
    const h = ctx.client.workflow.getHandle('jury-budget-1');
    const paused = await waitFor('the budget pause', async () => {
      const s = await h.query(campaignStatusQuery).catch(() => null);
      return s?.state === 'paused' ? s : null;
    });
    expect(paused.pauseReason).toMatch(/budget reached/);
    expect(paused.spentUsd).toBeLessThanOrEqual(0.05);
    expect(cli(['resume', 'jury-budget-1', '--budget', '1000'], env).status).toBe(0);
    expect((await h.result()).state).toBe('completed');
  } finally {
    await killHard(worker);
  }
  const m = JSON.parse(fs.readFileSync(path.join(ctx.dir, 'artifacts', 'jury-budget-1', 'iter-000', 'manifest.json'), 'utf8'));
  // The composite's judge spend is the campaign's: counted in the manifest, within what the provider billed.
  expect(m.cost.judge_usd).toBeGreaterThan(0);
  expect(m.cost.paid_calls + m.cost.cache_hits).toBe(m.composite.gate.passed);
  // Billed across the pause and the resume: at most one call per sample the gate passed (the interrupted shard's purchases were cached).
  expect(judge.stats.ok - paidBefore).toBeGreaterThanOrEqual(m.cost.paid_calls);
  expect(judge.stats.ok - paidBefore).toBeLessThanOrEqual(m.composite.gate.passed);
});
