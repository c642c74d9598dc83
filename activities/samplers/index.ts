/** Sampler kinds (campaign file `sampler.kind`): adding one is a folder `<kind>/` (config.ts: settings and checks; sampler.ts) and one line here. */
import { kindNamed } from '../../config/kind';
import { kindUnion } from '../../config/schema';
import { builtinSamplerKind } from './builtin/config';
import { commandSamplerKind } from './command/config';
import { managedSamplerKind } from './managed/config';
import { openaiSamplerKind } from './openai/config';
import type { Sampler, SamplerKind } from './sampler';

export const SAMPLER_KINDS = [builtinSamplerKind, openaiSamplerKind, managedSamplerKind, commandSamplerKind] as const;

export const SamplerSchema = kindUnion(SAMPLER_KINDS);

export async function samplerFor<S extends { kind: string }>(settings: S): Promise<Sampler<S>> {
  return (await kindNamed(SAMPLER_KINDS as readonly SamplerKind[], 'sampler', settings.kind).load()) as Sampler<S>;
}
