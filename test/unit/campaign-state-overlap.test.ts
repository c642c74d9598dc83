/** The campaign's state machine when iterations overlap (schedule.maxPolicyLag), without a server. */
import { CampaignSchema, CampaignConfig } from '../../activities/campaign/schema';
import { policyLag } from '../../activities/manifest';
import type { FileRef, IterationSummary, SampleShardResult } from '../../activities/types';
import { CampaignMachine, maxPolicyLag } from '../../workflows/campaign-state';
import type { Gathered } from '../../workflows/gather-learn';

const config = (lag?: 0 | 1 | 2, iterations = 5): CampaignConfig =>
  CampaignSchema.parse({
    name: 'm',
    iterations,
    prompts: { path: '/p.jsonl', perIteration: 8 },
    sampler: { kind: 'openai', baseURL: 'http://127.0.0.1:1/v1', model: 'policy' },
    labeler: { kind: 'judge', baseURL: 'http://127.0.0.1:2/v1', model: 'judge' },
    feedback: { type: 'pairwise', threshold: 0.5 },
    trainer: { kind: 'none' },
    budget: { usd: 1 },
    ...(lag === undefined ? {} : { schedule: { maxPolicyLag: lag } }),
  });
const ckpt = (v: number): FileRef => ({ path: `/ckpt-${v}`, sha256: String(v).repeat(64).slice(0, 64), bytes: 1, count: 1 });
const gathered = (costUsd = 0) => ({ costUsd }) as Gathered;
const summary = (iteration: number, costUsd = 0) => ({ iteration, costUsd }) as IterationSummary;

function started(lag: 0 | 1 | 2, iterations = 5): CampaignMachine {
  const m = new CampaignMachine('c-1', config(lag, iterations));
  m.s.initial = ckpt(0);
  m.s.policy = ckpt(0);
  return m;
}

/** Learns the next iteration as the campaign does: its checkpoint becomes the newest. */
function learn(m: CampaignMachine): void {
  const i = m.s.nextIteration;
  m.learned(summary(i), ckpt(i + 1));
}

test('campaigns without a schedule (and of earlier versions) have lag 0', () => {
  expect(maxPolicyLag(config())).toBe(0);
  expect(maxPolicyLag(config(2))).toBe(2);
});

test('lag 1: the next iteration is pinned to the checkpoint this one trains from, and no further', () => {
  const m = started(1);
  const head = m.head();
  expect(head).toMatchObject({ iteration: 0, sampledFrom: { version: 0, checkpoint: '/ckpt-0' } });
  head.gathered = gathered();
  const a = m.nextAhead(1, true)!;
  expect(a).toMatchObject({ iteration: 1, policy: ckpt(0), sampledFrom: { version: 0 } });
  a.gathered = gathered();
  // Two ahead would be two versions behind.
  expect(m.nextAhead(1, true)).toBeNull();
  learn(m);
  expect(m.s.ahead!.map((x) => x.iteration)).toEqual([1]);
  // Iteration 1 keeps what it gathered from version 0; iteration 2 samples from version 1.
  expect(m.head()).toBe(a);
  expect(m.nextAhead(1, true)).toMatchObject({ iteration: 2, sampledFrom: { version: 1, sha256: ckpt(1).sha256 } });
});

test('lag 2 gathers up to two ahead while one iteration trains; every pin is within the bound', () => {
  const m = started(2, 10);
  for (let round = 0; round < 6; round++) {
    const head = m.head();
    head.gathered ??= gathered();
    for (let a = m.nextAhead(2, true); a; a = m.nextAhead(2, true)) a.gathered = gathered();
    for (const a of m.s.ahead!) expect(a.iteration - a.sampledFrom.version).toBeLessThanOrEqual(2);
    expect(m.s.ahead!.map((a) => a.iteration)).toEqual([round, round + 1, round + 2]);
    learn(m);
  }
});

test('no new iteration starts once training is over, paused or stopping; one pinned earlier is retried with its pin', () => {
  const m = started(1);
  m.head().gathered = gathered();
  expect(m.nextAhead(1, false)).toBeNull(); // training already finished: the next run gathers from the fresher checkpoint
  const a = m.nextAhead(1, true)!; // its gather fails: no `gathered`
  learn(m);
  expect(m.head()).toBe(a);
  expect(m.head().sampledFrom.version).toBe(0);
  m.head().gathered = gathered();
  m.pause();
  expect(m.nextAhead(1, true)).toBeNull();
  m.resume();
  m.stop();
  expect(m.nextAhead(1, true)).toBeNull();
});

test('the last iteration has nothing to gather ahead', () => {
  const m = started(1, 2);
  m.head().gathered = gathered();
  m.nextAhead(1, true)!.gathered = gathered();
  learn(m);
  expect(m.nextAhead(1, true)).toBeNull();
});

test('state: pausing and stopping while either half is in flight; paused once both are done', () => {
  const m = started(1);
  m.current = 0;
  m.gathering = 1;
  m.pause();
  expect(m.state()).toBe('pausing');
  m.current = null;
  expect(m.state()).toBe('pausing'); // the gather ahead still runs
  m.gathering = null;
  expect(m.state()).toBe('paused');
  m.resume();
  m.gathering = 2;
  m.stop();
  expect(m.state()).toBe('stopping');
  m.gathering = null;
  expect(m.state()).toBe('stopped');
});

test('the judge budget left for a gather counts what iterations gathered ahead spent before they are booked', () => {
  const m = started(1);
  m.head().gathered = gathered(0.25);
  expect(m.budgetLeft()).toBeCloseTo(0.75);
  m.nextAhead(1, true)!.gathered = gathered(0.125);
  expect(m.budgetLeft()).toBeCloseTo(0.625);
  m.learned(summary(0, 0.25), ckpt(1));
  expect(m.budgetLeft()).toBeCloseTo(0.625);
});

test("the manifest's policy lag: min and max versions behind, and each checkpoint once", () => {
  const shard = (version: number | null) =>
    ({ ...(version === null ? {} : { sampledFrom: { checkpoint: `/ckpt-${version}`, sha256: `s${version}`, version } }) }) as SampleShardResult;
  expect(policyLag(3, [shard(null), shard(null)])).toBeNull();
  expect(policyLag(3, [shard(2), shard(1), shard(2)])!.record).toEqual({
    trains_from_version: 3,
    min: 1,
    max: 2,
    sampled_from: [
      { checkpoint: '/ckpt-1', sha256: 's1', version: 1 },
      { checkpoint: '/ckpt-2', sha256: 's2', version: 2 },
    ],
  });
});

test('the continue-as-new state stays the same size over 10,000 overlapping iterations', () => {
  const m = started(2, 10_000);
  const shardRef = (i: number, k: number): FileRef => ({ path: `/a/c-1/iter-${i}/prompts/shard-${k}.jsonl`, sha256: 'f'.repeat(64), bytes: 1000, count: 4 });
  const gatheredFor = (i: number) =>
    ({
      prompts: { shards: [shardRef(i, 0), shardRef(i, 1)], promptsFileSha256: 'e'.repeat(64), promptsIn: 8 },
      shards: 2,
      timings: { prompts: 0.01, sample: 1.5, score: 0.5 },
      startedAt: '2026-01-01T00:00:00.000Z',
      costUsd: 0,
    }) as unknown as Gathered;
  const sizes: number[] = [];
  while (m.s.nextIteration < 10_000) {
    const i = m.s.nextIteration;
    m.head().gathered ??= gatheredFor(i);
    for (let a = m.nextAhead(2, true); a; a = m.nextAhead(2, true)) a.gathered = gatheredFor(a.iteration);
    m.learned({ ...summary(i), manifest: `/a/c-1/iter-${i}/manifest.json`, checkpoint: `/a/c-1/iter-${i}/train/checkpoint.json` }, ckpt(i + 1));
    // What continue-as-new carries: the state, with digits growing as iteration numbers do.
    sizes.push(JSON.stringify(m.s).length);
  }
  expect(m.s.nextIteration).toBe(10_000);
  expect(m.s.ahead).toEqual([]);
  const steady = sizes.slice(100, 9_990);
  // Only the iteration numbers' digits grow (a few bytes per field), never the number of entries.
  expect(Math.max(...steady) - Math.min(...steady)).toBeLessThan(400);
  expect(Math.max(...sizes)).toBeLessThan(20_000);
});
