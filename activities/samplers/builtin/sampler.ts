/** The built-in miniature policy as a sampler: draws from each prompt's candidate pool. */
import { InputError } from '../../../config/errors';
import { seededRng } from '../../feedback/rng';
import { features, logProbs, sampleIndices } from '../../policy/builtin-policy';
import { loadBuiltinCheckpoint } from '../../policy/checkpoint-file';
import type { BuiltinSamplerConfig } from './config';
import type { SampleRecord, Sampler } from '../sampler';

function argmax(xs: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

export const builtinSampler: Sampler<BuiltinSamplerConfig> = {
  async sample(job) {
    const { settings: c, iteration, prompts } = job;
    const policy = loadBuiltinCheckpoint(job.policy, 'policy checkpoint');
    const records: SampleRecord[] = [];
    const skipped: Record<string, number> = {};
    let promptsSampled = 0;
    const generator = `builtin@${job.policy.sha256.slice(0, 12)}`;
    prompts.forEach((p, n) => {
      if (!p.candidates || p.candidates.length === 0) {
        skipped.no_candidates = (skipped.no_candidates ?? 0) + 1;
        return;
      }
      const pool = p.candidates.map((t) => features(t, policy.dims));
      const logp = logProbs(policy.theta, pool, c.temperature);
      const ev = job.evaluation;
      const rng = seededRng(ev ? `${ev.seed}:eval:${p.prompt_id}` : `${c.seed}:${iteration}:${p.prompt_id}`);
      const picks = ev?.greedy ? Array<number>(c.samplesPerPrompt).fill(argmax(logp)) : sampleIndices(logp, c.samplesPerPrompt, rng);
      picks.forEach((ci, s) => {
        records.push({ prompt_id: p.prompt_id, sample_id: s, prompt: p.prompt, output: p.candidates![ci], iteration, generator, candidate_index: ci });
      });
      promptsSampled++;
      if (n % 64 === 0) job.progress({ promptsDone: n, prompts: prompts.length });
    });
    if (promptsSampled === 0 && prompts.length > 0) {
      throw new InputError(
        job.promptsRef.path,
        undefined,
        'the built-in sampler needs "candidates" for each prompt and found none',
        'add a candidates list per prompt or use another sampler',
      );
    }
    return { records, promptsSampled, skipped };
  },
};
