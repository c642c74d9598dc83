/**
 * Which campaign a campaign folder (`<root>/<id>/`) belongs to. Completion records are found by path,
 * so a campaign started again under an id whose folder survived an earlier campaign (its Temporal
 * history gone: retention, a new server) would take that campaign's outputs for its own. The first
 * writer records the owner in `<root>/<id>/campaign.identity.json`: the workflow's first run id
 * (stable across continue-as-new, worker and server restarts, `resume`) and the resolved config's
 * hash. The CLI refuses to start into a folder owned by another campaign; activities refuse to reuse
 * anything in one.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ArtifactError } from '../../config/errors';
import type { CampaignConfig } from '../types';
import { fsyncDir } from './atomic-file';

export const IDENTITY_NAME = 'campaign.identity.json';
const FORMAT = 'alignloop-campaign/1';

export interface CampaignIdentity {
  format: typeof FORMAT;
  campaignId: string;
  /** The campaign workflow's first run id (workflowInfo().firstExecutionRunId). */
  firstRunId: string;
  /** sha256 of the resolved config, as the workflow received it (keys sorted). */
  configSha256: string;
  name: string;
  startedAt: string;
}

/** JSON with sorted keys and without undefined members: the same config hashes the same on any side of a payload. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canonicalJson(x))).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

export function configSha256(config: CampaignConfig): string {
  return createHash('sha256').update(canonicalJson(config)).digest('hex');
}

export function identityFile(campaignDir: string): string {
  return path.join(campaignDir, IDENTITY_NAME);
}

export function newIdentity(campaignId: string, config: CampaignConfig, firstRunId: string): CampaignIdentity {
  return { format: FORMAT, campaignId, firstRunId, configSha256: configSha256(config), name: config.name, startedAt: new Date().toISOString() };
}

/** The recorded owner, null when none is recorded; an unreadable record is an error (never guessed). */
export function readIdentity(campaignDir: string): CampaignIdentity | null {
  const f = identityFile(campaignDir);
  let text: string;
  try {
    text = fs.readFileSync(f, 'utf8');
  } catch {
    return null;
  }
  try {
    const v = JSON.parse(text) as CampaignIdentity;
    if (v.format === FORMAT && typeof v.firstRunId === 'string' && typeof v.configSha256 === 'string') return v;
  } catch {
    /* below */
  }
  throw new ArtifactError(`${f}: not a valid campaign identity record; restore it, or move the folder ${campaignDir} away and start again`);
}

/**
 * Records `id` as the folder's owner unless one is recorded already (exclusive: of two writers, the
 * first wins and both see it). Returns the owner.
 */
export function claimIdentity(campaignDir: string, id: CampaignIdentity): CampaignIdentity {
  const existing = readIdentity(campaignDir);
  if (existing) return existing;
  fs.mkdirSync(campaignDir, { recursive: true });
  const target = identityFile(campaignDir);
  const tmp = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, JSON.stringify(id, null, 2) + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.linkSync(tmp, target); // fails if another writer got there first
    fsyncDir(campaignDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  return readIdentity(campaignDir)!;
}

/** How an owner is named in messages. */
export function describeIdentity(id: CampaignIdentity): string {
  return `campaign "${id.name}" started ${id.startedAt} (first run ${id.firstRunId}, config sha256 ${id.configSha256.slice(0, 12)})`;
}

/** Anything in the folder besides working files that say nothing about ownership? */
export function holdsArtifacts(campaignDir: string): boolean {
  try {
    return fs.readdirSync(campaignDir).some((n) => n !== IDENTITY_NAME && !n.startsWith(`${IDENTITY_NAME}.tmp-`));
  } catch {
    return false;
  }
}

export interface OwnedScope {
  campaignId: string;
  config: CampaignConfig;
  /** Set by campaign workflows of this version on (absent in histories of earlier versions: no check). */
  campaignRunId?: string;
}

/**
 * Before an activity reads or reuses anything in the campaign folder: the folder is this campaign's
 * (claimed now if no owner is recorded), else a non-retryable ArtifactError that pauses the campaign.
 */
export function assertCampaignOwnsFolder(scope: OwnedScope, campaignDir: string): void {
  if (!scope.campaignRunId) return;
  const owner = claimIdentity(campaignDir, newIdentity(scope.campaignId, scope.config, scope.campaignRunId));
  if (owner.firstRunId === scope.campaignRunId) return;
  throw new ArtifactError(
    `${campaignDir} belongs to another ${describeIdentity(owner)}, not to this campaign (first run ${scope.campaignRunId}): ` +
      `its outputs are not reused; stop this campaign and start it with a new --id, or move the folder away and start again`,
  );
}
