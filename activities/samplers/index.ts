/** Sampler kinds (campaign file `sampler.kind`). */
import type { CampaignConfig } from '../../config/schema';
import { builtinSampler } from './builtin';
import { openaiSampler } from './openai';
import type { Sampler } from './sampler';

const SAMPLERS: Record<CampaignConfig['sampler']['kind'], Sampler> = {
  builtin: builtinSampler,
  openai: openaiSampler,
};

export function samplerFor(kind: CampaignConfig['sampler']['kind']): Sampler {
  return SAMPLERS[kind];
}
