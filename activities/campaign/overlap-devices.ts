/**
 * Iterations that overlap (schedule.maxPolicyLag > 0) run a managed sampler's server for iteration
 * i+1 while iteration i trains: the server and the trainer need devices of their own. A warning (the
 * two may run on different hosts), not an error. Pure.
 */
import type { CampaignConfig } from './schema';

const devices = (v: string | undefined) =>
  (v ?? '')
    .split(',')
    .map((d) => d.trim())
    .filter(Boolean);

export function overlapDeviceWarnings(c: CampaignConfig): string[] {
  const lag = (c as { schedule?: { maxPolicyLag?: number } }).schedule?.maxPolicyLag ?? 0;
  if (lag === 0 || c.sampler.kind !== 'managed' || c.trainer.kind !== 'command') return [];
  const served = devices(c.sampler.env.CUDA_VISIBLE_DEVICES);
  const trained = devices(c.trainer.env.CUDA_VISIBLE_DEVICES);
  const shared = served.filter((d) => trained.includes(d));
  if (shared.length === 0) return [];
  return [
    `warning: schedule.maxPolicyLag ${lag} runs the sampler's server while the trainer trains, and sampler.env and trainer.env both name CUDA_VISIBLE_DEVICES ${shared.join(',')}: ` +
      'on one host they compete for that GPU; give each its own devices (e.g. sampler.env CUDA_VISIBLE_DEVICES: "0", trainer.env CUDA_VISIBLE_DEVICES: "1"), or run their workers on different hosts',
  ];
}
