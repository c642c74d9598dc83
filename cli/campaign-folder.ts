/**
 * `start` / `run` and the campaign folder: a new campaign never starts into a folder that holds another
 * campaign's artifacts (see activities/artifacts/campaign-identity.ts), and records itself as the
 * folder's owner once Temporal has given it its first run id.
 */
import type { Client } from '@temporalio/client';
import * as path from 'node:path';
import { claimIdentity, describeIdentity, holdsArtifacts, IDENTITY_NAME, newIdentity, readIdentity } from '../activities/artifacts/campaign-identity';
import { campaignDir } from '../activities/artifacts/store';
import type { CampaignConfig } from '../activities/types';
import { UserError } from '../config/errors';

/** The first run id of the workflow `cid` on this server, if one exists (running or closed). */
async function firstRunIdOnServer(c: Client, cid: string): Promise<string | null> {
  try {
    const d = await c.workflow.getHandle(cid).describe();
    return d.raw.workflowExecutionInfo?.firstRunId || d.runId;
  } catch {
    return null;
  }
}

/** Refuses (UserError) to start campaign `cid` when its folder belongs to a campaign this server does not know as `cid`. */
export async function refuseForeignFolder(c: Client, config: CampaignConfig, cid: string): Promise<void> {
  const dir = campaignDir(config.artifacts.root, cid);
  const how = `start it with a new id (--id ${cid}-2), or move the folder away (mv ${dir} ${dir}.old) to start over under this id`;
  let owner;
  try {
    owner = readIdentity(dir);
  } catch (e) {
    throw new UserError(`campaign id "${cid}": ${(e as Error).message}`);
  }
  if (owner) {
    if (owner.firstRunId === (await firstRunIdOnServer(c, cid))) return; // this server's campaign: Temporal decides
    throw new UserError(
      `campaign id "${cid}": its folder ${dir} holds the artifacts of another ${describeIdentity(owner)}, which this Temporal server does not know; ` +
        `a new campaign would take them for its own: ${how}`,
    );
  }
  if (holdsArtifacts(dir)) {
    throw new UserError(
      `campaign id "${cid}": its folder ${dir} already holds artifacts of an earlier campaign (no ${IDENTITY_NAME}: written by an older alignloop); ` +
        `a new campaign would take them for its own: ${how}`,
    );
  }
}

/** Records the started campaign as its folder's owner (best effort: the workers record it too, on first use). */
export function recordCampaignOwner(config: CampaignConfig, cid: string, firstRunId: string): void {
  try {
    claimIdentity(path.resolve(campaignDir(config.artifacts.root, cid)), newIdentity(cid, config, firstRunId));
  } catch {
    /* the folder is not reachable from here (workers on other machines): they claim it */
  }
}
