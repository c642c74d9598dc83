/** Sampler kinds (campaign file `sampler.kind`). */
import type { CampaignConfig } from '../../config/schema';
import { builtinSampler } from './builtin';
import { commandSampler } from './command';
import { managedSampler } from './managed';
import { openaiSampler } from './openai';
import type { Sampler } from './sampler';

const SAMPLERS: Record<CampaignConfig['sampler']['kind'], Sampler> = {
  builtin: builtinSampler,
  openai: openaiSampler,
  managed: managedSampler,
  command: commandSampler,
};

export function samplerFor(kind: CampaignConfig['sampler']['kind']): Sampler {
  return SAMPLERS[kind];
}
