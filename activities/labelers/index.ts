/** Labeler kinds (campaign file `labeler.kind`): adding one is a folder `<kind>/` (config.ts: settings and checks; labeler.ts) and one line here. */
import { ConfigError } from '../../config/errors';
import { kindNamed } from '../../config/kind';
import { kindUnion } from '../../config/schema';
import { judgeKind } from './judge/config';
import { rewardModelKind } from './reward-model/config';
import { rewardServerKind } from './reward-server/config';
import { verifierKind } from './verifier/config';
import { compositeKind } from './composite/config';
import type { LabelerKind, ShardLabeler } from './labeler';

export const LABELER_KINDS = [rewardModelKind, rewardServerKind, judgeKind, verifierKind, compositeKind] as const;

export const LabelerSchema = kindUnion(LABELER_KINDS);

/** The labeler of a kind labeled on the score queue. */
export async function shardLabelerFor<S extends { kind: string }>(settings: S): Promise<ShardLabeler<S>> {
  const k = kindNamed(LABELER_KINDS as readonly LabelerKind[], 'labeler', settings.kind);
  if (k.queue !== 'score') throw new ConfigError('campaign', [`labeler.kind: ${settings.kind} is labeled on the ${k.queue} queue, not the score queue`]);
  return (await k.load()) as ShardLabeler<S>;
}
