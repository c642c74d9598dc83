/**
 * Where a composite's members keep their results (one scored file per member per shard, with its completion
 * record, so a crash re-pays nothing), and the samples a member is asked about: those every gate before it passed.
 */
import * as path from 'node:path';
import { ArtifactError } from '../../../config/errors';
import { writeFileAtomic } from '../../artifacts/atomic-file';
import { FileRef, findComplete, iterationDir, shardFile } from '../../artifacts/store';
import { forEachJsonLine } from '../../artifacts/json-lines';
import type { CompositeConfig } from './config';

export interface MemberScope {
  root: string;
  campaignId: string;
  iteration: number;
  shard: number;
}

export const memberFile = (s: MemberScope, name: string) => shardFile(s.root, s.campaignId, s.iteration, path.join('members', name), s.shard);

export const sampleKey = (r: { prompt_id?: unknown; sample_id?: unknown }) => `${String(r.prompt_id)}\u0000${String(r.sample_id)}`;

/** A gate's verdicts on a shard: the keys of the samples it did not pass (failed, or left unlabelled). */
export async function gateRejects(s: MemberScope, l: CompositeConfig, gateIndex: number): Promise<Set<string>> {
  const g = l.members[gateIndex];
  const file = memberFile(s, g.name);
  if (!findComplete(file))
    throw new ArtifactError(
      `gate ${g.name}'s results for shard ${s.shard} of iteration ${s.iteration} (${file}) have no valid completion record; resume to redo them`,
    );
  const failReward = g.labeler.kind === 'verifier' ? g.labeler.failReward : 0;
  const out = new Set<string>();
  await forEachJsonLine(file, (raw) => {
    const r = raw as { reward: number | null; verifier_pass?: boolean; prompt_id: string; sample_id: number };
    if (r.reward === null || r.verifier_pass === false || (r.verifier_pass === undefined && r.reward <= failReward)) out.add(sampleKey(r));
  });
  return out;
}

/** The samples member `index` is asked about: the shard less what the gates before it rejected (the shard itself when nothing was). */
export async function memberSamples(s: MemberScope, l: CompositeConfig, index: number, samples: FileRef): Promise<FileRef> {
  const gatesBefore = l.members.map((m, i) => (m.gate && i !== index && (i < index || !l.members[index].gate) ? i : -1)).filter((i) => i >= 0);
  if (gatesBefore.length === 0) return samples;
  const rejected = new Set<string>();
  for (const g of gatesBefore) for (const k of await gateRejects(s, l, g)) rejected.add(k);
  if (rejected.size === 0) return samples;
  const kept: string[] = [];
  await forEachJsonLine(samples.path, (raw) => {
    if (!rejected.has(sampleKey(raw as Record<string, unknown>))) kept.push(JSON.stringify(raw) + '\n');
  });
  const file = path.join(
    iterationDir(s.root, s.campaignId, s.iteration),
    'members',
    l.members[index].name,
    `shard-${String(s.shard).padStart(3, '0')}.asked.jsonl`,
  );
  const w = writeFileAtomic(file, kept);
  return { path: w.path, sha256: w.sha256, bytes: w.bytes, count: kept.length };
}
