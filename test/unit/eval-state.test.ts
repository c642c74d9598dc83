/** Evaluation in the campaign state machine (pure): when an iteration evaluates, the best checkpoint, the stop rule, the hacking guard. */
import { CampaignSchema, CampaignConfig } from '../../activities/campaign/schema';
import type { EvalSummary } from '../../activities/eval/summary';
import type { IterationSummary } from '../../activities/types';
import { CampaignMachine } from '../../workflows/campaign-state';
import { evalDue, hackingReason } from '../../workflows/eval-rules';

const config = (evalBlock: Record<string, unknown>, iterations = 8): CampaignConfig =>
  CampaignSchema.parse({
    name: 'e',
    iterations,
    prompts: { path: '/p.jsonl', perIteration: 8 },
    sampler: { kind: 'builtin' },
    labeler: { kind: 'reward-model', model: '/rm' },
    feedback: { type: 'pairwise' },
    trainer: { kind: 'builtin', method: 'dpo' },
    eval: { prompts: '/eval.jsonl', ...evalBlock },
  });
const ref = { path: '/init', sha256: 'a'.repeat(64), bytes: 1, count: 1 };

function machine(evalBlock: Record<string, unknown>, iterations?: number): CampaignMachine {
  const m = new CampaignMachine('e-1', config(evalBlock, iterations));
  m.s.initial = ref;
  m.s.policy = ref;
  return m;
}

const evaluation = (o: Partial<EvalSummary>): EvalSummary => ({
  prompts: 4,
  answers: 4,
  labelled: 4,
  rewardMean: 0,
  winRate: 0.5,
  winRateCi: [0.2, 0.8],
  lcWinRate: 0.5,
  wins: 2,
  losses: 2,
  ties: 0,
  meanLength: 100,
  baselineMeanLength: 100,
  baselineRewardMean: 0,
  truncatedShare: 0,
  baselineIteration: 0,
  metricsFile: ref,
  ...o,
});

function complete(m: CampaignMachine, rewardMean: number, e: Partial<EvalSummary> | null): void {
  const it = m.s.nextIteration;
  const ck = { path: `/ck-${it}`, sha256: String(it).repeat(64).slice(0, 64), bytes: 1, count: 1 };
  const summary = { iteration: it, rewardMean, costUsd: 0, checkpoint: ck.path, checkpointSha256: ck.sha256, ...(e ? { eval: evaluation(e) } : {}) };
  m.completeIteration(summary as IterationSummary, ck);
}

test('evalDue: every N-th iteration and always the last', () => {
  expect([0, 1, 2, 3, 4, 5, 6].filter((i) => evalDue(i, 3, 7))).toEqual([2, 5, 6]);
  expect([0, 1, 2].filter((i) => evalDue(i, 1, 3))).toEqual([0, 1, 2]);
});

test('evalInput: nothing without eval or when not due; the baseline is made once, by the first evaluated iteration', () => {
  const plain = new CampaignMachine('p', { ...config({}), eval: undefined });
  plain.s.initial = ref;
  expect(plain.evalInput(0)).toEqual({});
  const m = machine({ everyIterations: 2 });
  expect(m.evalInput(0)).toEqual({});
  expect(m.evalInput(1)).toEqual({ eval: { initial: ref, baselineIteration: null, best: null } });
  complete(m, 0, null);
  complete(m, 0, { winRate: 0.6, baselineIteration: 1 });
  expect(m.evalInput(3)).toEqual({ eval: { initial: ref, baselineIteration: 1, best: { iteration: 1, value: 0.6 } } });
});

test('the best checkpoint: the strictly highest value of bestBy, with its path, sha256 and metrics', () => {
  const m = machine({ bestBy: 'lcWinRate' });
  complete(m, 0, { winRate: 0.9, lcWinRate: 0.55 });
  complete(m, 0, { winRate: 0.4, lcWinRate: 0.61 });
  complete(m, 0, { winRate: 0.95, lcWinRate: 0.61 }); // a tie is not better
  const st = m.evalStatus().evaluation!;
  expect(st.bestBy).toBe('lcWinRate');
  expect(st.best).toMatchObject({ iteration: 1, value: 0.61, checkpoint: '/ck-1', winRate: 0.4 });
  expect(st.sinceBest).toBe(1);
});

test('stopWhen.noImprovement: K evaluations without a better best stop the campaign, with the reason', () => {
  const m = machine({ stopWhen: { noImprovement: 2 } });
  complete(m, 0, { winRate: 0.6 });
  complete(m, 0, { winRate: 0.55 });
  expect(m.state()).toBe('running');
  complete(m, 0, { winRate: 0.58 });
  expect(m.state()).toBe('stopped');
  expect(m.evalStatus().evaluation!.stopReason).toMatch(/noImprovement: 2 evaluation\(s\) without a better winRate than iteration 0's \(0\.6000\)/);
});

test('hacking guard: reward up and win rate down at two evaluations in a row pauses, with the numbers; one is not enough', () => {
  const m = machine({ hackingGuard: true });
  complete(m, 1.0, { winRate: 0.6 });
  complete(m, 2.0, { winRate: 0.5 });
  expect(m.state()).toBe('running');
  complete(m, 3.0, { winRate: 0.4 });
  expect(m.state()).toBe('paused');
  expect(m.s.pauseReason).toMatch(
    /hacking guard \(iteration 2\): training reward rose 1\.000 -> 2\.000 -> 3\.000 while the eval win rate fell 0\.600 -> 0\.500 -> 0\.400/,
  );
  expect(m.s.pauseReason).toMatch(/best checkpoint is iteration 0's/);
  // resume goes on; the guard looks again at the next evaluation only
  m.resume();
  expect(m.state()).toBe('running');
});

test('hacking guard: answers longer than maxLengthRatio x the baseline pause at once; without the guard nothing pauses', () => {
  const m = machine({ hackingGuard: true, maxLengthRatio: 1.2 });
  complete(m, 0, { meanLength: 119, baselineMeanLength: 100 });
  expect(m.state()).toBe('running');
  complete(m, 0, { meanLength: 130, baselineMeanLength: 100 });
  expect(m.state()).toBe('paused');
  expect(m.s.pauseReason).toMatch(/mean eval answer length 130\.0 chars is 1\.30x the baseline's 100\.0 \(eval\.maxLengthRatio 1\.2\)/);
  const off = machine({ maxLengthRatio: 1.2 });
  complete(off, 0, { meanLength: 500, baselineMeanLength: 100 });
  expect(off.state()).toBe('running');
});

test('hacking guard at the last iteration: nothing to pause, the campaign completes with the warning in its status', () => {
  const m = machine({ hackingGuard: true, maxLengthRatio: 1.2 }, 2);
  complete(m, 0, { meanLength: 100, baselineMeanLength: 100 });
  complete(m, 0, { meanLength: 150, baselineMeanLength: 100 });
  expect(m.state()).toBe('completed');
  expect(m.s.paused).toBe(false);
  expect(m.evalStatus().evaluation!.guardWarning).toMatch(/^hacking guard \(iteration 1\): mean eval answer length 150\.0 chars is 1\.50x/);
});

test('hackingReason ignores evaluations without a win rate', () => {
  const pts = [
    { iteration: 0, trainReward: 1, winRate: 0.6 },
    { iteration: 1, trainReward: 2, winRate: null },
    { iteration: 2, trainReward: 3, winRate: 0.4 },
  ];
  expect(hackingReason(pts, { meanLength: null, baselineMeanLength: null }, 2)).toBeNull();
});

test('eval.baseline: best: after the first evaluation, answers are compared with the best checkpoint; beating it (win rate > 0.5) makes a new best', () => {
  const m = machine({ baseline: 'best' });
  expect(m.evalInput(0)).toEqual({ eval: { initial: ref, baselineIteration: null, best: null } }); // no best yet: the initial policy
  complete(m, 0, { winRate: 0.7, baselineIteration: 0 });
  expect(m.evalInput(1)).toEqual({ eval: { initial: ref, baselineIteration: 0, best: { iteration: 0, value: 0.7 }, againstBest: 0 } });
  complete(m, 0, { winRate: 0.55, baselineIteration: 0, against: 'best' }); // beats iteration 0's answers
  expect(m.evalStatus().evaluation!.best).toMatchObject({ iteration: 1, value: 0.55 });
  expect(m.evalInput(2)).toMatchObject({ eval: { againstBest: 1, baselineIteration: 0 } });
  complete(m, 0, { winRate: 0.45, baselineIteration: 1, against: 'best' }); // loses to iteration 1's
  expect(m.evalStatus().evaluation).toMatchObject({ best: { iteration: 1 }, sinceBest: 1 });
});
