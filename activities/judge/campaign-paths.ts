/** Where a campaign's judge state lives in the artifact store (shared by every judge worker). */
import * as path from 'node:path';
import type { CampaignConfig } from '../campaign/schema';
import { campaignDir } from '../artifacts/store';
import type { BudgetScope } from './budget-ledger';

/** The campaign's judge spend ledger, booked per iteration; limitUsd is what the iteration may still spend. */
export function judgeBudget(c: CampaignConfig, campaignId: string, iteration: number, limitUsd: number | null): BudgetScope {
  return { dir: path.join(campaignDir(c.artifacts.root, campaignId), 'judge-budget'), scope: `iter-${iteration}`, limitUsd };
}

/** The judgement cache and the shared rate-limiter state. */
export function judgeDirs(c: CampaignConfig, campaignId: string): { cacheDir: string; limiterDir: string } {
  const dir = campaignDir(c.artifacts.root, campaignId);
  return { cacheDir: path.join(dir, 'judge-cache'), limiterDir: path.join(dir, 'judge-limiter') };
}
