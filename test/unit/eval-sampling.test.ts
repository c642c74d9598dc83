/** The built-in sampler on held-out prompts (eval:): draws fixed by the eval seed whatever the iteration, greedy = the most likely answer. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeJsonAtomic } from '../../activities/artifacts/atomic-file';
import { refOf } from '../../activities/durable';
import { features, initialCheckpoint, logProbs } from '../../activities/policy/builtin-policy';
import { loadPrompts } from '../../activities/prompts';
import { builtinSampler } from '../../activities/samplers/builtin/sampler';
import type { SampleJob, SampleOutcome } from '../../activities/samplers/sampler';
import type { BuiltinSamplerConfig } from '../../activities/samplers/builtin/config';
import { ROOT, tmpDir } from '../helpers/paths';

const EVAL_PROMPTS = path.join(ROOT, 'examples', 'quickstart', 'eval-prompts.jsonl');

async function setup() {
  const dir = tmpDir('alignloop-eval-sampling-');
  // A policy that prefers some candidates: theta with a few non-zero weights.
  const ck = initialCheckpoint(64);
  ck.theta = ck.theta.map((_, i) => ((i * 7) % 5) - 2);
  const policy = refOf(writeJsonAtomic(path.join(dir, 'policy.json'), ck), 1);
  const prompts = (await loadPrompts(EVAL_PROMPTS)).slice(0, 6);
  const promptsRef = refOf(writeJsonAtomic(path.join(dir, 'prompts.json'), prompts), prompts.length);
  const job = (iteration: number, evaluation?: SampleJob['evaluation']): SampleJob<BuiltinSamplerConfig> => ({
    settings: { kind: 'builtin', samplesPerPrompt: 4, temperature: 1, seed: 5 },
    artifactsRoot: dir,
    campaignId: 'c',
    iteration,
    shard: 0,
    prompts,
    promptsRef,
    policy,
    progress: () => undefined,
    ...(evaluation ? { evaluation } : {}),
  });
  return { dir, ck, prompts, job };
}

const picks = (r: SampleOutcome) => r.records.map((x) => x.candidate_index);

test('eval draws depend on the eval seed, not the iteration; training draws change with the iteration', async () => {
  const { dir, job } = await setup();
  const a = await builtinSampler.sample(job(0, { seed: 7, greedy: false }));
  const b = await builtinSampler.sample(job(5, { seed: 7, greedy: false }));
  const c = await builtinSampler.sample(job(0, { seed: 8, greedy: false }));
  expect(picks(a)).toEqual(picks(b));
  expect(picks(a)).not.toEqual(picks(c));
  const t0 = await builtinSampler.sample(job(0));
  const t5 = await builtinSampler.sample(job(5));
  expect(picks(t0)).not.toEqual(picks(t5));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('greedy: every answer is the candidate the policy scores highest', async () => {
  const { dir, ck, prompts, job } = await setup();
  const g = await builtinSampler.sample(job(3, { seed: 7, greedy: true }));
  expect(g.records).toHaveLength(prompts.length * 4);
  prompts.forEach((p, i) => {
    const logp = logProbs(
      ck.theta,
      p.candidates!.map((t) => features(t, ck.dims)),
      1,
    );
    const best = logp.indexOf(Math.max(...logp));
    expect(g.records.slice(i * 4, i * 4 + 4).map((r) => r.candidate_index)).toEqual([best, best, best, best]);
  });
  fs.rmSync(dir, { recursive: true, force: true });
});
