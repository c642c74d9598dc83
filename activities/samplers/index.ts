/** Sampler kinds (campaign file `sampler.kind`). */
import type { CampaignConfig } from '../../config/schema';
import { builtinSampler } from './builtin';
import type { Sampler } from './sampler';

const SAMPLERS: Record<CampaignConfig['sampler']['kind'], Sampler> = {
  builtin: builtinSampler,
};

export function samplerFor(kind: CampaignConfig['sampler']['kind']): Sampler {
  return SAMPLERS[kind];
}
