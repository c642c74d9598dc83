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
import { overlappingPrompts } from '../eval/held-out';
import { CAMPAIGN_KINDS, CampaignConfig, CampaignSchema } from './schema';

export function loadCampaign(file: string, cwd = process.cwd()): LoadedCampaign<CampaignConfig> {
  return loadCampaignFile(file, CampaignSchema, CAMPAIGN_KINDS, cwd);
}

/** The held-out prompts parse, none is a training prompt (by prompt hash), and an eval labeler opens. */
async function evalPreflight(c: CampaignConfig, e: NonNullable<CampaignConfig['eval']>, o: PreflightOptions): Promise<string[]> {
  const problems: string[] = [];
  try {
    if ((await loadPrompts(e.prompts)).length === 0) problems.push(`eval.prompts: ${e.prompts} holds no prompts`);
    const overlap = await overlappingPrompts(c.prompts.path, e.prompts);
    if (overlap.length)
      problems.push(
        `eval.prompts: ${e.prompts}:${overlap[0]}: ${overlap.length} held-out prompt(s) are also in the training prompts ${c.prompts.path} (same prompt hash, lines ${overlap.slice(0, 5).join(', ')}${overlap.length > 5 ? ', …' : ''}); remove them from one file`,
      );
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    problems.push(`eval.prompts: ${err.message}`);
  }
  for (const block of [e.labeler, e.judge])
    if (block) problems.push(...((await kindNamed(CAMPAIGN_KINDS.labeler, 'labeler', block.kind).preflight?.(block, c, o)) ?? []).map((p) => `eval.${p}`));
  return problems;
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
  if (c.eval) problems.push(...(await evalPreflight(c, c.eval, o)));
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
