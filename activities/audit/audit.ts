/**
 * `alignloop audit`: one training example of an iteration, followed back to where it came from: the
 * samples (generator, policy checkpoint), their rewards or judgements, the pairing decision (re-run
 * with the feedback stage's own code on the recorded scored shards, so it is reproduced, not
 * guessed), and the training run that consumed it.
 */
import type { DisagreementRule } from '../feedback/build';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../../config/errors';
import type { CampaignConfig } from '../campaign/schema';
import { forEachJsonLine } from '../artifacts/json-lines';
import { FileRef, findComplete } from '../artifacts/store';
import type { SampledFrom } from '../types';
import type { FeedbackExample } from '../feedback/build';
import { feedbackFromScoredShards } from '../feedback/from-scored-shards';
import type { ScoredSample } from '../feedback/scored-samples';
import { promptId } from '../prompts';
import { readCheckedManifest } from './manifests';
import { TrainerIdentity, trainerIdentity, TrainerSettings } from './trainer-identity';

export interface AuditQuery {
  iteration: number;
  example?: number;
  promptId?: string;
  prompt?: string;
}

interface Manifest {
  iteration: number;
  settings?: {
    feedback: CampaignConfig['feedback'];
    labeler: { kind: string; mode: string | null; disagreement?: DisagreementRule };
    trainer?: TrainerSettings;
  };
  judged_pairs?: unknown;
  artifacts: { samples: FileRef[]; samples_truncated?: FileRef[]; scored: FileRef[]; feedback: Record<string, FileRef | undefined> | null };
  lineage: Record<string, unknown>;
  feedback: Record<string, unknown>;
  train: Record<string, unknown>;
}

export interface AuditReport {
  campaign: string;
  iteration: number;
  examples: { index: number; record: Record<string, unknown> }[];
  prompt_id: string;
  prompt: unknown;
  samples: Record<string, unknown>[];
  decision: {
    type: string;
    mode: string | null;
    threshold: unknown;
    /** The feedback stage's code re-run on the recorded scored shards gives the same examples for this prompt. */
    reproduced: boolean;
    pairs: { sample_ids: number[]; rewards: number[]; gap: number | null; label: number | null }[];
    unused: { sample_id: number; reward: number | null; why: string }[];
  };
  labeler: unknown;
  policy_in: unknown;
  training: { result: Record<string, unknown>; checkpoint_out: unknown; trainer: TrainerIdentity };
}

/** The feedback settings of an iteration: recorded in its manifest, or (older manifests) read back from its feedback statistics. */
function feedbackSettings(m: Manifest): CampaignConfig['feedback'] {
  if (m.settings) return m.settings.feedback;
  const s = m.feedback as {
    type: 'pairwise' | 'binary' | 'scalar';
    mode: 'random' | 'max' | 'min' | null;
    threshold_rule: string;
    threshold: number | null;
    seed: number;
  };
  const rule = s.threshold_rule.replace(/ per prompt$/, '');
  const threshold = rule === 'mean' || rule === 'median' ? rule : rule === 'number' ? (s.threshold ?? undefined) : undefined;
  return { type: s.type, mode: s.mode ?? undefined, threshold, perPrompt: s.threshold_rule.endsWith(' per prompt'), seed: s.seed };
}

async function readJsonl(file: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  await forEachJsonLine(file, (raw) => out.push(raw as Record<string, unknown>));
  return out;
}

/** The example as the native feedback file writes it, for comparison with a re-run. */
function key(e: FeedbackExample): string {
  if (e.kind === 'pair') return `${e.prompt_id}|${e.a.sample_id},${e.b.sample_id}|${e.label}`;
  return `${e.sample.prompt_id}|${e.sample.sample_id}|${e.label}`;
}

function recordKey(r: Record<string, unknown>): string {
  if (Array.isArray(r.sample_ids)) return `${r.prompt_id}|${(r.sample_ids as number[]).join(',')}|${r.label}`;
  return `${r.prompt_id}|${r.sample_id}|${r.label ?? null}`;
}

export async function auditExample(root: string, campaignId: string, q: AuditQuery): Promise<AuditReport> {
  const dir = path.join(root, campaignId, `iter-${String(q.iteration).padStart(3, '0')}`);
  const manifestFile = path.join(dir, 'manifest.json');
  if (!fs.existsSync(manifestFile)) throw new UserError(`campaign ${campaignId} has no finished iteration ${q.iteration} (no ${manifestFile})`);
  const m = readCheckedManifest(manifestFile) as Manifest;
  const fb = m.artifacts.feedback?.jsonl;
  // An iteration without examples still has samples to show for --prompt-id / --prompt.
  if (!fb && q.example !== undefined)
    throw new UserError(`iteration ${q.iteration} produced no training examples (${String(m.feedback.empty_reason ?? 'empty feedback')})`);
  const records = fb ? await readJsonl(fb.path) : [];
  let wanted: string;
  if (q.example !== undefined) {
    if (q.example < 0 || q.example >= records.length)
      throw new UserError(`--example ${q.example}: iteration ${q.iteration} has examples 0..${records.length - 1}`, 2);
    wanted = String(records[q.example].prompt_id ?? (records[q.example] as { sample?: { prompt_id?: string } }).sample?.prompt_id);
  } else if (q.promptId) wanted = q.promptId;
  else if (q.prompt !== undefined) wanted = promptId([{ role: 'user', content: q.prompt }]);
  else throw new UserError('say which example: --example K, --prompt-id P or --prompt TEXT', 2);
  const examples = records.map((record, index) => ({ index, record })).filter((e) => e.record.prompt_id === wanted);
  const samples: Record<string, unknown>[] = [];
  // Iterations that overlap: the checkpoint each shard was sampled from, as its completion record says.
  const sampledFrom = new Map<Record<string, unknown>, SampledFrom>();
  for (const ref of m.artifacts.samples) {
    const from = findComplete<{ sampledFrom?: SampledFrom }>(ref.path)?.extra.sampledFrom;
    for (const r of await readJsonl(ref.path)) {
      if (r.prompt_id !== wanted) continue;
      samples.push(r);
      if (from) sampledFrom.set(r, from);
    }
  }
  // Samples cut at maxTokens: dropped before labeling, kept beside the shards so every sample of a prompt shows.
  for (const ref of m.artifacts.samples_truncated ?? []) for (const r of await readJsonl(ref.path)) if (r.prompt_id === wanted) samples.push(r);
  if (samples.length === 0 && examples.length === 0) {
    throw new UserError(
      `no prompt ${wanted} in iteration ${q.iteration}${q.prompt !== undefined ? ' (a --prompt is matched as one user turn; try --prompt-id)' : ''}`,
    );
  }

  const f = { ...feedbackSettings(m), ...(m.settings?.labeler?.disagreement ? { disagreement: m.settings.labeler.disagreement } : {}) };
  const judgedPairs = m.judged_pairs !== undefined || m.settings?.labeler?.mode === 'pairwise';
  const rerun = judgedPairs ? null : await feedbackFromScoredShards(f, m.artifacts.scored);
  const group: ScoredSample[] = rerun?.groups.get(wanted) ?? [];
  const mine = rerun ? rerun.examples.filter((e) => (e.kind === 'pair' ? e.prompt_id : e.sample.prompt_id) === wanted) : [];
  const reproduced = rerun !== null && mine.map(key).join('\n') === examples.map((e) => recordKey(e.record)).join('\n');
  const used = new Set<number>();
  const pairs = mine.map((e) => {
    if (e.kind === 'pair') {
      used.add(e.a.sample_id).add(e.b.sample_id);
      const chosen = e.label === 1 ? e.a : e.b;
      const rejected = e.label === 1 ? e.b : e.a;
      return {
        sample_ids: [chosen.sample_id, rejected.sample_id],
        rewards: [chosen.reward!, rejected.reward!],
        gap: chosen.reward! - rejected.reward!,
        label: e.label,
      };
    }
    used.add(e.sample.sample_id);
    return { sample_ids: [e.sample.sample_id], rewards: [e.sample.reward], gap: null, label: e.label };
  });
  const mode = f.type === 'pairwise' ? (f.mode ?? 'max') : null;
  const threshold = (rerun?.stats.threshold as number | null | undefined) ?? f.threshold ?? null;
  const labelled = group.filter((s) => s.label_status === 'ok' && s.reward !== null);
  const unused = group
    .filter((s) => !used.has(s.sample_id))
    .map((s) => {
      let why: string;
      if (s.label_status !== 'ok' || s.reward === null) why = `unlabelled (${s.label_status})`;
      else if (f.type !== 'pairwise') why = 'not emitted';
      else if (labelled.length < 2) why = 'fewer than 2 labelled samples for this prompt';
      else if (pairs.length === 0) why = `every gap in this prompt is below the threshold ${threshold}`;
      else if (mode === 'random') why = 'left over: random pairing is disjoint (odd count) or its pair fell below the threshold';
      else
        why = `mode ${mode} pairs the ${mode === 'max' ? 'highest with the lowest' : 'two lowest'} reward${mode === 'max' ? '' : 's'}; this sample is neither`;
      return { sample_id: s.sample_id, reward: s.reward, why };
    });
  const scoredById = new Map(group.map((s) => [s.sample_id, s]));
  // What a labeler recorded beside the reward (a composite's members, a verifier's verdict), as written in the scored shards.
  const recorded = new Map<number, Record<string, unknown>>();
  for (const ref of m.artifacts.scored)
    for (const r of await readJsonl(ref.path))
      if (r.prompt_id === wanted && (r.composite !== undefined || r.verifier_pass !== undefined)) recorded.set(r.sample_id as number, r);
  const ckpt = m.lineage.checkpoint_out as FileRef | undefined;
  let descriptor: { preset?: string } | null = null;
  try {
    if (ckpt) descriptor = (JSON.parse(fs.readFileSync(ckpt.path, 'utf8')) as { trainer?: { preset?: string } }).trainer ?? null;
  } catch {
    /* a checkpoint folder, or a built-in checkpoint: no trainer details in it */
  }
  const trainer = trainerIdentity(m.settings?.trainer, m.lineage.reference as FileRef | null, m.artifacts.feedback, descriptor);
  return {
    campaign: campaignId,
    iteration: q.iteration,
    examples,
    prompt_id: wanted,
    prompt: samples[0]?.prompt ?? examples[0]?.record.prompt,
    samples: samples.map((s) => {
      const sc = scoredById.get(s.sample_id as number) as unknown as Record<string, unknown> | undefined;
      const extra = sc
        ? Object.fromEntries(
            Object.entries({ ...sc, ...recorded.get(s.sample_id as number) }).filter(([k]) =>
              /^(judge|label_error|raw|presented|swap|verdict|composite|verifier_pass)/.test(k),
            ),
          )
        : {};
      return {
        sample_id: s.sample_id,
        generator: s.generator,
        model: s.model ?? null,
        finish_reason: s.finish_reason ?? null,
        output: s.output,
        reward: sc?.reward ?? null,
        label_status: sc?.label_status ?? (s.truncated === true && !sc ? 'not labeled: truncated at maxTokens' : 'not scored'),
        ...(s.truncated === true ? { truncated: true } : {}),
        ...(sampledFrom.has(s) ? { sampled_from: { ...sampledFrom.get(s)!, lag: q.iteration - sampledFrom.get(s)!.version } } : {}),
        ...extra,
      };
    }),
    decision: { type: f.type, mode, threshold, reproduced, pairs, unused },
    labeler: m.lineage.labeler,
    policy_in: m.lineage.policy_in,
    training: { result: m.train, checkpoint_out: ckpt ?? null, trainer },
  };
}
