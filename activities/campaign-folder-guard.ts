/**
 * Every campaign activity first checks that the campaign folder is its campaign's (see
 * artifacts/campaign-identity.ts), before it reads or reuses any completion record there.
 */
import { assertCampaignOwnsFolder, OwnedScope } from './artifacts/campaign-identity';
import { campaignDir } from './artifacts/store';
import { toActivityFailure } from './durable';

const isScope = (v: unknown): v is OwnedScope =>
  !!v && typeof v === 'object' && typeof (v as OwnedScope).campaignRunId === 'string' && typeof (v as OwnedScope).campaignId === 'string';

/** The same activities, each checking the campaign folder's owner when its input names the campaign's run. */
export function guardCampaignFolder<T extends object>(activities: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    if (typeof fn !== 'function') {
      out[name] = fn;
      continue;
    }
    out[name] = async (input: unknown, ...rest: unknown[]) => {
      if (isScope(input)) {
        try {
          assertCampaignOwnsFolder(input, campaignDir(input.config.artifacts.root, input.campaignId));
        } catch (e) {
          throw toActivityFailure(e);
        }
      }
      return (fn as (...a: unknown[]) => unknown).call(activities, input, ...rest);
    };
  }
  return out as T;
}
