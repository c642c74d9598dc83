/** Settings of the `builtin` sampler: the miniature policy draws from each prompt's candidate pool. */
import { z } from 'zod';
import { loadPrompts } from '../../prompts';
import type { SamplerKind } from '../sampler';

export const BuiltinSamplerSchema = z.strictObject({
  kind: z.literal('builtin'),
  samplesPerPrompt: z.number().int().positive().default(8).describe('Samples drawn per prompt.'),
  temperature: z.number().positive().default(1.0).describe('Sampling temperature of the miniature policy.'),
  seed: z.number().int().default(0).describe('Seed of the draws (per prompt and iteration: equal inputs give equal samples).'),
});

export type BuiltinSamplerConfig = z.infer<typeof BuiltinSamplerSchema>;

export const builtinSamplerKind: SamplerKind<typeof BuiltinSamplerSchema> = {
  schema: BuiltinSamplerSchema,
  problems(_s, c) {
    const out = [];
    if (c.policy)
      out.push({
        path: ['policy'],
        message: 'the built-in sampler starts from its own miniature policy: remove policy (it is for the managed and command samplers)',
      });
    if (c.trainer.kind !== 'builtin')
      out.push({ path: ['trainer', 'kind'], message: 'the built-in sampler samples the built-in policy, which only trainer.kind: builtin trains' });
    return out;
  },
  async preflight(_s, c) {
    let without = 0;
    let first: number | null = null;
    let prompts = 0;
    try {
      prompts = (
        await loadPrompts(c.prompts.path, (p, line) => {
          if (!p.candidates) {
            without++;
            first ??= line;
          }
        })
      ).length;
    } catch {
      return []; // the prompts file's own problems are reported with the prompts
    }
    if (without === 0) return [];
    return [
      `prompts.path: ${c.prompts.path}:${first}: ${without} of ${prompts} prompts have no "candidates", which the built-in sampler needs ` +
        `(add a candidates list per prompt, or sample from a model with another sampler kind)`,
    ];
  },
  load: async () => (await import('./sampler')).builtinSampler,
};
