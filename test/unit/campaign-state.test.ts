/** The campaign's state machine, without a server: what each steering request does and when it is refused. */
import { CampaignSchema, CampaignConfig } from '../../activities/campaign/schema';
import type { IterationSummary } from '../../activities/types';
import { configChanges } from '../../config/config-changes';
import { CampaignMachine, SteeringRefused } from '../../workflows/campaign-state';

const base = (): CampaignConfig =>
  CampaignSchema.parse({
    name: 'm',
    iterations: 4,
    prompts: { path: '/p.jsonl', perIteration: 8 },
    sampler: { kind: 'openai', baseURL: 'http://127.0.0.1:1/v1', model: 'policy' },
    labeler: { kind: 'judge', baseURL: 'http://127.0.0.1:2/v1', model: 'judge' },
    feedback: { type: 'pairwise', threshold: 0.5 },
    trainer: { kind: 'none' },
    budget: { usd: 1 },
  });
const ref = { path: '/c', sha256: 'a'.repeat(64), bytes: 1, count: 1 };
const summary = (iteration: number, costUsd: number) => ({ iteration, costUsd }) as IterationSummary;

function started(): CampaignMachine {
  const m = new CampaignMachine('c-1', base());
  m.s.initial = ref;
  m.s.policy = ref;
  return m;
}

test('pause, resume and stop move the state; resuming a running campaign is refused', () => {
  const m = started();
  expect(m.state()).toBe('running');
  expect(() => m.checkResume()).toThrow(/running, not paused: nothing to resume/);
  m.current = 0;
  m.checkPause();
  m.pause();
  expect(m.state()).toBe('pausing');
  m.current = null;
  expect(m.state()).toBe('paused');
  m.checkResume();
  m.resume();
  expect(m.state()).toBe('running');
  m.current = 1;
  m.checkStop();
  m.stop();
  expect(m.state()).toBe('stopping');
  expect(() => m.checkStop()).toThrow(SteeringRefused);
  expect(() => m.checkPause()).toThrow(/stopping: nothing to pause/);
  m.current = null;
  expect(m.state()).toBe('stopped');
});

test('a budget pause: resume without a new budget is refused with the reason, a budget above what is spent releases it', () => {
  const m = started();
  m.completeIteration(summary(0, 0.6), ref);
  m.budgetExhausted(0.5); // iteration 1 ran out of budget
  expect(m.state()).toBe('paused');
  expect(m.s.pauseReason).toMatch(/budget reached: \$1.1000 spent of \$1.0000/);
  expect(() => m.checkResume()).toThrow(/c-1 is still paused: budget reached/);
  expect(() => m.checkResume(1.05)).toThrow(/not above what the campaign has spent \(\$1.1000\)/);
  expect(() => m.checkBudgetValue(-1)).toThrow(/positive/);
  m.checkResume(5);
  m.resume(5);
  expect(m.state()).toBe('running');
  expect(m.s.budgetUsd).toBe(5);
});

test('a failure pause: resume clears the failure (the iteration is retried)', () => {
  const m = started();
  m.pauseOnFailure({ iteration: 0, stage: 'score', message: 'boom', errorType: 'ModelFolderError' } as never);
  expect(m.state()).toBe('failed-paused');
  m.checkResume();
  m.resume();
  expect(m.state()).toBe('running');
  expect(m.s.failure).toBeNull();
});

test('config edits: safe ones wait for the next iteration, fixed ones refuse the whole edit naming each setting', () => {
  const m = started();
  m.completeIteration(summary(0, 0), ref);
  const next = base();
  next.iterations = 6;
  next.feedback.threshold = 0.2;
  if (next.sampler.kind === 'openai') next.sampler.baseURL = 'http://127.0.0.1:9/v1';
  const edit = m.applyConfig(next);
  expect(edit.fromIteration).toBe(1);
  expect(edit.applied.map((c) => c.path)).toEqual(['feedback.threshold', 'iterations', 'sampler.baseURL']);
  expect(m.config.iterations).toBe(4); // not yet: the iteration in flight keeps its config
  expect(m.configForNextRun().iterations).toBe(6);
  expect(m.takePendingConfig().map((c) => c.path)).toEqual(['feedback.threshold', 'iterations', 'sampler.baseURL']);
  expect(m.config.iterations).toBe(6);
  expect(m.takePendingConfig()).toEqual([]);

  const bad = base();
  bad.iterations = 6;
  bad.prompts.path = '/other.jsonl';
  bad.feedback.type = 'binary';
  expect(() => m.checkConfig(bad)).toThrow(/feedback.type: "pairwise" -> "binary" \(.*\); prompts.path: "\/p.jsonl" -> "\/other.jsonl"/);
  expect(m.configForNextRun().prompts.path).toBe('/p.jsonl');

  expect(() => m.checkConfig({ ...base(), iterations: 0 })).toThrow(/1 iterations are already done/);
});

test('configChanges compares every leaf setting', () => {
  const a = base();
  const b = base();
  expect(configChanges(a, b, { completed: 0 })).toEqual({ applied: [], refused: [] });
  if (b.labeler.kind === 'judge') b.labeler.limits.requestsPerMinute = 10;
  b.budget = { usd: 3 };
  const r = configChanges(a, b, { completed: 0 });
  expect(r.refused).toEqual([]);
  expect(r.applied).toEqual([
    { path: 'budget.usd', from: 1, to: 3 },
    { path: 'labeler.limits.requestsPerMinute', from: 500, to: 10 },
  ]);
  const c = base();
  c.trainer = { kind: 'none', method: 'kto' };
  expect(configChanges(a, c, { completed: 0 }).refused.map((x) => x.path)).toEqual(['trainer.method']);
});
