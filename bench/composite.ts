/**
 * npm run bench:composite — what a composite reward changes, on real parts: the quickstart data (every prompt x
 * every candidate) scored by the quickstart reward model (ONNX Runtime) and judged by the fake judge server
 * (billing like a provider); the composite example's math prompts checked by the shipped verifier (a Python
 * subprocess). Prints, against the reward model alone in the same run: the length-reward correlation and the
 * chosen/rejected length ratio of the pairwise feedback, without and with length control; RM-judge agreement;
 * and the judge calls a verifier gate saves.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { JudgeConfigSchema } from '../activities/judge/config';
import { judgeFile } from '../activities/judge/judge-file';
import { agreement, combineIteration, CombineSettings, LengthControl, Row } from '../activities/labelers/composite/combine';
import { VerifierLabelerSchema } from '../activities/labelers/verifier/config';
import { verifyFile } from '../activities/labelers/verifier/run-verifier';
import { buildFeedback, PairExample } from '../activities/feedback/build';
import { readScoredSamples } from '../activities/feedback/files';
import { scoreFile } from '../activities/score/score-file';
import { RewardScorer } from '../activities/score/scorer';
import { pearson } from '../activities/labelers/composite/stats';
import { FakeJudgeServer } from '../test/fakes/openai-judge-server';

const ROOT = path.resolve(__dirname, '..', '..');

interface Sample {
  prompt_id: string;
  sample_id: number;
  prompt: string;
  output: string;
}

function samplesOf(prompts: string, file: string): Sample[] {
  const out: Sample[] = [];
  fs.readFileSync(prompts, 'utf8')
    .split('\n')
    .filter(Boolean)
    .forEach((l, i) => {
      const p = JSON.parse(l) as { prompt: string; candidates: string[] };
      p.candidates.forEach((c, j) => out.push({ prompt_id: `p${i}`, sample_id: j, prompt: p.prompt, output: c }));
    });
  fs.writeFileSync(file, out.map((s) => JSON.stringify(s) + '\n').join(''));
  return out;
}

const rewardsOf = (file: string) =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l).reward as number | null);

const words = (s: string) => s.split(/\s+/).filter(Boolean).length;

/** Pairwise feedback (mode max, threshold 0.01) from rewards, through the feedback stage's own code: the chosen/rejected length ratio. */
async function feedbackLengths(dir: string, samples: Sample[], rewards: (number | null)[], name: string) {
  const file = path.join(dir, `${name}.scored.jsonl`);
  fs.writeFileSync(
    file,
    samples.map((s, i) => JSON.stringify({ ...s, reward: rewards[i], label_status: rewards[i] === null ? 'gate_failed' : 'ok' }) + '\n').join(''),
  );
  const { examples } = buildFeedback((await readScoredSamples(file)).groups, { type: 'pairwise', mode: 'max', threshold: 0.01, seed: 0 });
  const pairs = examples as PairExample[];
  const len = (e: PairExample, chosen: boolean) => {
    const s = (e.label === 1) === chosen ? e.a : e.b;
    return s.output.map((t) => t.content).join('').length;
  };
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  return { pairs: pairs.length, ratio: mean(pairs.map((e) => len(e, true))) / mean(pairs.map((e) => len(e, false))) };
}

const fmt = (v: number | null, d = 3) => (v === null ? 'n/a' : v.toFixed(d));

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alignloop-bench-composite-'));
  const server = await new FakeJudgeServer({ apiKey: 'sk-bench', structuredOutput: true }).start();
  const judge = JudgeConfigSchema.parse({
    kind: 'judge',
    baseURL: server.baseURL,
    model: 'judge-small',
    apiKeyEnv: 'JUDGE_KEY',
    limits: { requestsPerMinute: 600000, tokensPerMinute: 1e9, maxInFlight: 16 },
  });
  const judgeRun = (name: string) => ({
    config: judge,
    apiKey: 'sk-bench',
    cacheDir: path.join(dir, `cache-${name}`),
    limiterDir: path.join(dir, `limiter-${name}`),
  });
  try {
    // 1. The quickstart data: reward model and judge on every sample.
    const qs = path.join(dir, 'quickstart.jsonl');
    const samples = samplesOf(path.join(ROOT, 'examples', 'quickstart', 'prompts.jsonl'), qs);
    const scorer = await RewardScorer.open({
      modelDir: path.join(ROOT, 'examples', 'quickstart', 'reward-model'),
      provider: 'cpu',
      batchTokens: 8192,
      threads: 1,
    });
    await scoreFile(scorer, qs, path.join(dir, 'rm.jsonl'));
    await judgeFile(qs, path.join(dir, 'judge.jsonl'), judgeRun('qs'));
    const rm = rewardsOf(path.join(dir, 'rm.jsonl'));
    const jd = rewardsOf(path.join(dir, 'judge.jsonl'));
    const rows: Row[] = samples.map((s, i) => ({
      promptId: s.prompt_id,
      length: words(s.output),
      members: {
        rm: { reward: rm[i], status: rm[i] === null ? 'failed' : 'ok', pass: null },
        judge: { reward: jd[i], status: jd[i] === null ? 'failed' : 'ok', pass: null },
      },
    }));
    const lens = rows.map((r) => r.length);
    console.log(`quickstart data: ${samples.length} samples of ${new Set(samples.map((s) => s.prompt_id)).size} prompts; reward model + fake judge (1-10)\n`);
    console.log('labeler                                       length-reward corr   chosen/rejected length (chars)   pairs');
    const line = (name: string, corr: number | null, f: { ratio: number; pairs: number }) =>
      console.log(`${name.padEnd(46)}${fmt(corr).padStart(18)}${fmt(f.ratio, 2).padStart(33)}${String(f.pairs).padStart(8)}`);
    const alone = (rs: (number | null)[]) =>
      pearson(
        lens.filter((_, i) => rs[i] !== null),
        rs.filter((r): r is number => r !== null),
      );
    line('reward model alone (baseline)', alone(rm), await feedbackLengths(dir, samples, rm, 'rm'));
    line('judge alone', alone(jd), await feedbackLengths(dir, samples, jd, 'judge'));
    const base: Omit<CombineSettings, 'length'> = {
      members: [
        { name: 'rm', weight: 1, normalize: 'zscore', gate: false },
        { name: 'judge', weight: 0.5, normalize: 'rank', gate: false },
      ],
      combine: 'weighted',
      minMembers: null,
      gateFailed: 'drop',
    };
    const controls: [string, LengthControl][] = [
      ['none', { control: 'none' }],
      ['penalty 0.02/word', { control: 'penalty', perWord: 0.02 }],
      ['penalty 0.05/word', { control: 'penalty', perWord: 0.05 }],
      ['regress', { control: 'regress' }],
    ];
    for (const [name, length] of controls) {
      const { outcomes, stats } = combineIteration(rows, { ...base, length });
      line(
        `composite rm+judge, length: ${name}`,
        stats.length.corrAfter,
        await feedbackLengths(
          dir,
          samples,
          outcomes.map((o) => o.reward),
          `c-${name.replace(/\W+/g, '-')}`,
        ),
      );
    }
    {
      // Pairs the members order differently, dropped (minAgreement 0.6 of two members: both must agree).
      const { outcomes } = combineIteration(rows, { ...base, length: { control: 'none' } });
      const file = path.join(dir, 'disagreement.scored.jsonl');
      fs.writeFileSync(
        file,
        samples
          .map(
            (s, i) =>
              JSON.stringify({ ...s, reward: outcomes[i].reward, label_status: 'ok', composite: { members: { rm: { raw: rm[i] }, judge: { raw: jd[i] } } } }) +
              '\n',
          )
          .join(''),
      );
      const groups = (await readScoredSamples(file)).groups;
      for (const mode of ['max', 'random'] as const) {
        const opts = { type: 'pairwise' as const, mode, threshold: 0.01, seed: 0 };
        const kept = buildFeedback(groups, { ...opts, disagreement: { minAgreement: 0.6, members: ['rm', 'judge'] } });
        console.log(
          `${mode === 'max' ? '\n' : ''}disagreement.drop (minAgreement 0.6), pairs mode ${mode}: ${kept.stats.examples_out} of ${buildFeedback(groups, opts).stats.examples_out} pairs kept; dropped: ${JSON.stringify(kept.stats.pairs_dropped_by_disagreement)}`,
        );
      }
    }
    const [a] = agreement(rows, base.members);
    console.log(`\nRM-judge agreement: ${fmt(a.agreement)} of ${a.pairs} within-prompt pairs ordered alike; rank correlation (Spearman) ${fmt(a.spearman)}`);

    // 2. The composite example's math prompts: the judge with and without the verifier gate in front.
    const mathFile = path.join(dir, 'math.jsonl');
    const math = samplesOf(path.join(ROOT, 'examples', 'composite', 'prompts.jsonl'), mathFile);
    const verifier = VerifierLabelerSchema.parse({
      kind: 'verifier',
      command: ['python3', 'check_math.py', '{{in}}', '{{out}}'],
      workDir: path.join(ROOT, 'examples', 'composite'),
    });
    const t0 = Date.now();
    const v = await verifyFile(verifier, mathFile, path.join(dir, 'math.verified.jsonl'), {
      setting: 'labeler',
      campaignDir: dir,
      workDir: path.join(dir, 'verifier'),
      credentials: [],
      heartbeat: () => undefined,
    });
    const verifyMs = Date.now() - t0;
    const verdicts = fs
      .readFileSync(v.path, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l).verifier_pass as boolean);
    const passedFile = path.join(dir, 'math.passed.jsonl');
    fs.writeFileSync(
      passedFile,
      math
        .filter((_, i) => verdicts[i])
        .map((s) => JSON.stringify(s) + '\n')
        .join(''),
    );
    const before = server.stats.ok;
    await judgeFile(mathFile, path.join(dir, 'math.judge-all.jsonl'), judgeRun('all'));
    const all = server.stats.ok - before;
    await judgeFile(passedFile, path.join(dir, 'math.judge-gated.jsonl'), judgeRun('gated'));
    const gated = server.stats.ok - before - all;
    console.log(
      `\nverifier gate on ${math.length} math samples (${v.passed} pass, ${v.failed} fail; the verifier took ${verifyMs} ms): ` +
        `judge calls ${all} without the gate, ${gated} with it: ${all - gated} saved (${fmt((100 * (all - gated)) / all, 1)}%)`,
    );
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  // The ONNX Runtime session's threads would keep the process alive.
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
