/**
 * `start` / `run` and the campaign folder: a new campaign never starts into a folder that holds another
 * campaign's artifacts (see activities/artifacts/campaign-identity.ts), and records itself as the
 * folder's owner once Temporal has given it its first run id.
 */
import type { Client } from '@temporalio/client';
import * as path from 'node:path';
import {
  CampaignIdentity,
  claimIdentity,
  describeIdentity,
  holdsArtifacts,
  IDENTITY_NAME,
  newIdentity,
  readIdentity,
} from '../activities/artifacts/campaign-identity';
import { openStore } from '../activities/store';
import { isS3Root } from '../config/store-location';
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

/** The owner recorded in the store, and whether anything else is there (store-backed campaigns). */
async function storedOwner(config: CampaignConfig, cid: string): Promise<{ owner: CampaignIdentity | null; holds: boolean }> {
  const store = openStore(config.artifacts);
  try {
    let owner: CampaignIdentity | null = null;
    if (await store.head(`${cid}/${IDENTITY_NAME}`)) {
      const text = (await store.getBytes(`${cid}/${IDENTITY_NAME}`)).toString('utf8');
      try {
        owner = JSON.parse(text) as CampaignIdentity;
      } catch {
        throw new UserError(`campaign id "${cid}": ${store.description}/${cid}/${IDENTITY_NAME} is not valid JSON: restore it, or start under a new --id`);
      }
    }
    let holds = false;
    for await (const o of store.list(`${cid}/`)) {
      if (o.key !== `${cid}/${IDENTITY_NAME}`) {
        holds = true;
        break;
      }
    }
    return { owner, holds };
  } finally {
    (store as { destroy?: () => void }).destroy?.();
  }
}

/** Refuses (UserError) to start campaign `cid` when its folder belongs to a campaign this server does not know as `cid`. */
export async function refuseForeignFolder(c: Client, config: CampaignConfig, cid: string): Promise<void> {
  const s3 = isS3Root(config.artifacts.root);
  const dir = s3 ? `${config.artifacts.root.replace(/\/+$/, '')}/${cid}` : campaignDir(config.artifacts.root, cid);
  const how = s3
    ? `start it with a new id (--id ${cid}-2), or move its objects to another prefix to start over under this id`
    : `start it with a new id (--id ${cid}-2), or move the folder away (mv ${dir} ${dir}.old) to start over under this id`;
  let owner;
  let holds: boolean;
  try {
    if (s3) ({ owner, holds } = await storedOwner(config, cid));
    else {
      owner = readIdentity(dir);
      holds = holdsArtifacts(dir);
    }
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
  if (holds) {
    throw new UserError(
      `campaign id "${cid}": its folder ${dir} already holds artifacts of an earlier campaign (no ${IDENTITY_NAME}: written by an older alignloop); ` +
        `a new campaign would take them for its own: ${how}`,
    );
  }
}

/** Records the started campaign as its folder's owner (best effort: the workers record it too, on first use). */
export async function recordCampaignOwner(config: CampaignConfig, cid: string, firstRunId: string): Promise<void> {
  if (isS3Root(config.artifacts.root)) {
    const store = openStore(config.artifacts);
    try {
      await store.putBytes(`${cid}/${IDENTITY_NAME}`, JSON.stringify(newIdentity(cid, config, firstRunId), null, 2) + '\n', { ifAbsent: true });
    } catch {
      /* the workers claim it on first use */
    } finally {
      (store as { destroy?: () => void }).destroy?.();
    }
    return;
  }
  try {
    claimIdentity(path.resolve(campaignDir(config.artifacts.root, cid)), newIdentity(cid, config, firstRunId));
  } catch {
    /* the folder is not reachable from here (workers on other machines): they claim it */
  }
}
