/**
 * A campaign file, loaded once per command: parsed and checked against the registered kinds
 * (`loadCampaign`), then checked in depth (`preflight`: prompts parse, models open, endpoints answer).
 */
import { ConfigError, InputError } from '../../config/errors';
import { kindNamed, PreflightOptions } from '../../config/kind';
import { loadCampaignFile, LoadedCampaign } from '../../config/load';
import { loadPrompts } from '../prompts';
import { isS3Root } from '../../config/store-location';
import { openStore } from '../store';
import { probeStore } from '../store/probe';
import { literalCredentials } from './credential-values';
import { overlapDeviceWarnings } from './overlap-devices';
import { CAMPAIGN_KINDS, CampaignConfig, CampaignSchema } from './schema';

export function loadCampaign(file: string, cwd = process.cwd()): LoadedCampaign<CampaignConfig> {
  return loadCampaignFile(file, CampaignSchema, CAMPAIGN_KINDS, cwd);
}

/**
 * Problems are errors listed like the campaign file's own (so a campaign id is never used up by a
 * typo); an endpoint that does not answer is only a warning, since campaigns may be planned offline.
 */
export async function preflight(file: string, c: CampaignConfig, o: PreflightOptions): Promise<void> {
  const problems: string[] = [];
  for (const w of literalCredentials(c)) o.warn(w);
  for (const w of overlapDeviceWarnings(c)) o.warn(w);
  try {
    // (Enough prompts for the iterations is checked with the file's shape.)
    if ((await loadPrompts(c.prompts.path)).length === 0) problems.push(`prompts.path: ${c.prompts.path} holds no prompts`);
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    problems.push(`prompts.path: ${e.message}`);
  }
  for (const role of ['sampler', 'labeler', 'trainer'] as const) {
    const kind = kindNamed(CAMPAIGN_KINDS[role], role, c[role].kind);
    problems.push(...((await kind.preflight?.(c[role], c, o)) ?? []));
  }
  if (isS3Root(c.artifacts.root)) {
    // A small write, read, list and delete under the prefix: wrong bucket, credentials or permissions show now.
    const store = openStore(c.artifacts);
    try {
      const probe = await probeStore(store);
      if (probe.unreachable) for (const p of probe.problems) o.warn(`artifacts: ${p} (workers retry until it answers)`);
      else problems.push(...probe.problems.map((p) => (p.startsWith('artifacts') ? p : `artifacts: ${p}`)));
      if (probe.conditionalWrites === false)
        o.warn(
          `artifacts: ${store.description} ignores create-only writes (If-None-Match): two workers finishing the same step at once could both record it; see docs/many-hosts.md`,
        );
    } finally {
      (store as { destroy?: () => void }).destroy?.();
    }
  }
  if (problems.length) throw new ConfigError(file, problems);
}
