/**
 * The combine step of a composite labeler: every member's results of every shard (kept per member per shard)
 * become the iteration's scored shards, which the feedback stage reads as from any other labeler. Each scored
 * record keeps every member's raw and normalised score, the gate outcome and the combined reward (`audit`);
 * the iteration's statistics (normalisation, gates, agreement, length bias) go to composite/stats.json and the
 * manifest. Deterministic from the member files: a rerun after a crash, or with other weights, re-pays nothing.
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { ArtifactError } from '../../../config/errors';
import { writeFileAtomic, writeJsonAtomic } from '../../artifacts/atomic-file';
import { findComplete, iterationDir, markComplete, shardFile } from '../../artifacts/store';
import { forEachJsonLine } from '../../artifacts/json-lines';
import { refOf } from '../../durable';
import { responseText } from '../../score/scorer';
import type { ScoreShardResult } from '../../types';
import { combineIteration, CompositeStats, MemberResult, Row, RowOutcome } from './combine';
import { combineSettings, CompositeConfig } from './config';
import { memberFile, MemberScope, sampleKey } from './member-files';

export interface CompositeIterationStats extends CompositeStats {
  /** sha256 of the combine settings these rewards were made with. */
  settingsSha256: string;
  /** Each member's identity (model files' sha256, judge model and template hash, verifier argv and script sha256). */
  identities: Record<string, Record<string, unknown>>;
}

export const compositeStatsFile = (root: string, campaignId: string, iteration: number) =>
  path.join(iterationDir(root, campaignId, iteration), 'composite', 'stats.json');

const words = (text: string | null) => (text ? text.split(/\s+/).filter(Boolean).length : 0);

type MemberExtra = Omit<ScoreShardResult, 'ref'>;

function memberIdentity(kind: string, l: Record<string, unknown>, e: MemberExtra | undefined): Record<string, unknown> {
  if (kind === 'judge') return { kind, model: l.model, base_url: l.baseURL, template_sha256: e?.cost?.templateSha256 ?? null };
  if (kind === 'verifier') return { kind, argv: e?.verifier?.argv ?? l.command, files_sha256: e?.verifier?.files ?? null };
  return { kind, model: l.model, ...(e?.model ? { model_sha256: e.model.sha256, model_files: e.model.files } : {}) };
}

/** Combines the iteration's `shards` shards (idempotent: done once per combine settings). */
export async function combineCompositeIteration(
  l: CompositeConfig,
  root: string,
  campaignId: string,
  iteration: number,
  shards: number,
): Promise<CompositeIterationStats> {
  const settings = combineSettings(l);
  const settingsSha256 = createHash('sha256').update(JSON.stringify(settings)).digest('hex');
  const statsFile = compositeStatsFile(root, campaignId, iteration);
  const done = findComplete<CompositeIterationStats>(statsFile);
  if (done && done.extra.settingsSha256 === settingsSha256) return done.extra;

  // Pass 1: every sample's member results (numbers and ids only: an iteration's worth fits in memory).
  const rows: Row[] = [];
  const perShard: number[] = [];
  const extras: Record<string, MemberExtra[]> = {};
  for (let k = 0; k < shards; k++) {
    const scope: MemberScope = { root, campaignId, iteration, shard: k };
    const samples = findComplete(shardFile(root, campaignId, iteration, 'samples', k));
    if (!samples) throw new ArtifactError(`samples shard ${k} of iteration ${iteration} has no valid completion record: restore it, then resume`);
    const byMember = new Map<string, Map<string, MemberResult>>();
    for (const m of l.members) {
      const file = memberFile(scope, m.name);
      const rec = findComplete<MemberExtra>(file);
      if (!rec)
        throw new ArtifactError(
          `member ${m.name}'s results for shard ${k} of iteration ${iteration} (${file}) have no valid completion record: resume to redo them`,
        );
      (extras[m.name] ??= []).push(rec.extra);
      const results = new Map<string, MemberResult>();
      await forEachJsonLine(file, (raw) => {
        const r = raw as { reward: number | null; label_status?: string; verifier_pass?: boolean };
        results.set(sampleKey(raw as Record<string, unknown>), { reward: r.reward, status: r.label_status ?? 'ok', pass: r.verifier_pass ?? null });
      });
      byMember.set(m.name, results);
    }
    let n = 0;
    await forEachJsonLine(samples.ref.path, (raw) => {
      const r = raw as Record<string, unknown>;
      const key = sampleKey(r);
      const members: Row['members'] = {};
      for (const m of l.members) members[m.name] = byMember.get(m.name)!.get(key);
      rows.push({ promptId: String(r.prompt_id), length: words(responseText(r.output)), members });
      n++;
    });
    perShard.push(n);
  }

  const { outcomes, stats } = combineIteration(rows, settings);

  // Pass 2: the scored shards, in sample order, each with its completion record.
  let at = 0;
  for (let k = 0; k < shards; k++) {
    const samples = findComplete(shardFile(root, campaignId, iteration, 'samples', k))!;
    const lines: string[] = [];
    const unlabelled: Record<string, number> = {};
    let labelled = 0;
    await forEachJsonLine(samples.ref.path, (raw) => {
      const row = rows[at];
      const o: RowOutcome = outcomes[at++];
      if (o.reward === null) unlabelled[o.status] = (unlabelled[o.status] ?? 0) + 1;
      else labelled++;
      const members: Record<string, unknown> = {};
      for (const m of l.members) {
        const r = row.members[m.name];
        members[m.name] = r ? { raw: r.reward, norm: o.norms[m.name], status: r.status, ...(r.pass !== null ? { pass: r.pass } : {}) } : { asked: false };
      }
      lines.push(
        JSON.stringify({
          ...(raw as Record<string, unknown>),
          reward: o.reward,
          label_status: o.reward === null ? o.status : 'ok',
          ...(o.error && o.reward === null ? { label_error: o.error } : {}),
          composite: { gate: o.gate, combined: o.combined, length_words: row.length, members },
        }) + '\n',
      );
    });
    const judged = l.members.flatMap((m) => (m.labeler.kind === 'judge' ? [extras[m.name][k]] : []));
    const out = writeFileAtomic(shardFile(root, campaignId, iteration, 'scored', k), lines);
    const extra: MemberExtra = {
      samples: perShard[k],
      labelled,
      unlabelled,
      truncated: 0,
      batchesResumed: 0,
      ...(judged.length ? { cost: sumCosts(judged.map((e) => e.cost!).filter(Boolean)) } : {}),
    };
    markComplete(refOf(out, perShard[k]), extra);
  }
  const identities = Object.fromEntries(
    l.members.map((m) => [
      m.name,
      memberIdentity(
        m.labeler.kind,
        m.labeler as unknown as Record<string, unknown>,
        extras[m.name].find((e) => e.samples > 0),
      ),
    ]),
  );
  const result: CompositeIterationStats = { ...stats, settingsSha256, identities };
  markComplete(refOf(writeJsonAtomic(statsFile, result), rows.length), result);
  return result;
}

function sumCosts(costs: NonNullable<MemberExtra['cost']>[]): NonNullable<MemberExtra['cost']> {
  const s = (f: (c: NonNullable<MemberExtra['cost']>) => number | undefined) => costs.reduce((a, c) => a + (f(c) ?? 0), 0);
  return {
    usd: s((c) => c.usd),
    paidCalls: s((c) => c.paidCalls),
    paidUnlabelled: s((c) => c.paidUnlabelled),
    estimatedCalls: s((c) => c.estimatedCalls),
    paidRetries: s((c) => c.paidRetries),
    cacheHits: s((c) => c.cacheHits),
    rateLimited: s((c) => c.rateLimited),
    promptTokens: s((c) => c.promptTokens),
    completionTokens: s((c) => c.completionTokens),
    templateSha256: costs[0]?.templateSha256 ?? '',
  };
}
