/** The iteration manifest: what an iteration consumed and produced, with counts that must add up. */
import { disagreementRule } from './labelers/composite/config';
import type { ConfigChange } from '../config/config-changes';
import { InvariantViolation } from '../config/errors';
import type { FileRef } from './artifacts/store';
import type { FeedbackResult, IterationScope, IterationSummary, PreparedPrompts, SampleShardResult, ScoreShardResult, TrainResult } from './types';
import { trainerSettings } from './audit/trainer-identity';
import type { EvalSummary } from './eval/summary';

export interface ManifestInput extends IterationScope {
  policyIn: FileRef;
  reference: FileRef;
  prompts: PreparedPrompts;
  samples: SampleShardResult[];
  scored: ScoreShardResult[];
  feedback: FeedbackResult;
  train: TrainResult;
  timings: Record<string, number>;
  startedAt: string;
  /** Config edits (`resume --config`) that took effect with this iteration. */
  configChanges?: ConfigChange[];
  /** Composite labeler only: the combine step's statistics (composite/stats.json). */
  composite?: { identities: Record<string, unknown> } & object;
  /** eval: the evaluation of this iteration's checkpoint. */
  eval?: EvalSummary;
}

/** Does this labeler pay a judge (a judge, or a composite with a judge member)? */
export function paysJudge(l: { kind: string; members?: { labeler: { kind: string } }[] }): boolean {
  return l.kind === 'judge' || (l.kind === 'composite' && (l.members ?? []).some((m) => m.labeler.kind === 'judge'));
}

/** The reward model's fingerprint(s) this iteration's shards were scored with. */
function labelerModel(scored: ScoreShardResult[]) {
  const models = [...new Map(scored.filter((s) => s.model).map((s) => [s.model!.sha256, s.model!])).values()];
  if (models.length === 0) return {};
  return { model_sha256: models.map((m) => m.sha256).join(','), model_version: models.map((m) => m.version).join(','), model_files: models[0].files };
}

/** A score-queue labeler's identity: its model files' sha256, or a verifier's argv and script sha256. */
function labelerLineage(l: { kind: string; model?: unknown }, scored: ScoreShardResult[], members?: Record<string, unknown>) {
  if (l.kind === 'composite') return { kind: l.kind, members: members ?? null };
  if (l.kind === 'verifier') {
    const v = scored.find((s) => s.verifier)?.verifier;
    return { kind: l.kind, argv: v?.argv ?? null, files_sha256: v?.files ?? null };
  }
  return { kind: l.kind, model: l.model, ...labelerModel(scored) };
}

/**
 * The iteration's manifest (counts, feedback statistics, cost, timings, lineage, every file's
 * reference) and its one-row summary. Throws when counts do not add up. Pure: no I/O.
 */
export function buildIterationManifest(
  input: ManifestInput,
  file: string,
  ledgerSpentUsd: number,
): { manifest: Record<string, unknown>; summary: IterationSummary } {
  const { config: c, campaignId, iteration } = input;
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const merge = (rs: Record<string, number>[]) =>
    rs.reduce(
      (acc, r) => {
        for (const [k, v] of Object.entries(r)) acc[k] = (acc[k] ?? 0) + v;
        return acc;
      },
      {} as Record<string, number>,
    );
  const counts = {
    prompts_in: input.prompts.promptsIn,
    prompts_sampled: sum(input.samples.map((s) => s.promptsSampled)),
    prompts_skipped: merge(input.samples.map((s) => s.skipped)),
    samples_failed: merge(input.samples.map((s) => s.samplesFailed ?? {})),
    samples_dropped: merge(input.samples.map((s) => s.samplesDropped ?? {})),
    samples: sum(input.samples.map((s) => s.ref.count)),
    scored: sum(input.scored.map((s) => s.labelled)),
    unlabelled: merge(input.scored.map((s) => s.unlabelled)),
    truncated: sum(input.scored.map((s) => s.truncated)),
    examples: input.feedback.stats.examples_out,
    // Samples that tried to close the judge template's delimiters (neutralised before judging).
    ...(c.labeler.kind === 'judge' ? { judge_delimiter_samples: sum(input.scored.map((s) => s.judgeDelimiterSamples ?? 0)) } : {}),
  };
  // Counts add up (for judged pairs: decided + tied + unlabelled = judged).
  const skipped = sum(Object.values(counts.prompts_skipped));
  const unl = sum(Object.values(counts.unlabelled));
  const pairs = input.scored.some((s) => s.pairs)
    ? {
        pairs: sum(input.scored.map((s) => s.pairs?.pairs ?? 0)),
        decided: sum(input.scored.map((s) => s.pairs?.decided ?? 0)),
        ties: sum(input.scored.map((s) => s.pairs?.ties ?? 0)),
        inconsistent: sum(input.scored.map((s) => s.pairs?.inconsistent ?? 0)),
      }
    : null;
  const labelAddsUp = pairs ? pairs.decided + pairs.ties + pairs.inconsistent + unl === pairs.pairs : counts.scored + unl === counts.samples;
  if (counts.prompts_sampled + skipped !== counts.prompts_in || !labelAddsUp) {
    throw new InvariantViolation(`iteration ${iteration}: counts do not add up: ${JSON.stringify(counts)}`);
  }
  const lag = policyLag(iteration, input.samples);
  const emptyReason = counts.samples === 0 && counts.prompts_in > 0 ? noSamplesReason(counts) : input.feedback.stats.empty_reason;
  // The iteration's ledger also holds what eval.judge spent (the campaign's budget).
  const judgeUsd = paysJudge(c.labeler) || c.eval?.judge ? Math.max(ledgerSpentUsd, sum(input.scored.map((s) => s.cost?.usd ?? 0))) : 0;
  const manifest = {
    campaign: campaignId,
    iteration,
    started_at: input.startedAt,
    config_name: c.name,
    counts,
    feedback: input.feedback.stats,
    reward: input.feedback.stats.reward,
    empty_reason: emptyReason,
    ...(pairs ? { judged_pairs: pairs } : {}),
    ...(input.configChanges?.length ? { config_changes: input.configChanges } : {}),
    ...(lag ? { policy_lag: lag.record } : {}),
    ...(input.composite ? { composite: Object.fromEntries(Object.entries(input.composite).filter(([k]) => k !== 'identities')) } : {}),
    ...(input.eval ? { eval: input.eval } : {}),
    // What `alignloop audit` re-runs the feedback stage with.
    settings: {
      feedback: c.feedback,
      labeler: {
        kind: c.labeler.kind,
        mode: c.labeler.kind === 'judge' ? c.labeler.mode : null,
        // A composite's disagreement rule changes which pairs feedback keeps: audit re-runs it.
        ...(c.labeler.kind === 'composite' && disagreementRule(c.labeler) ? { disagreement: disagreementRule(c.labeler) } : {}),
      },
      trainer: trainerSettings(c.trainer),
    },
    cost: {
      judge_usd: judgeUsd,
      // What this iteration's shards bought in their final attempts; judge_usd also counts attempts cut short (budget pause, kill).
      judge_usd_final_attempts: sum(input.scored.map((s) => s.cost?.usd ?? 0)),
      paid_calls: sum(input.scored.map((s) => s.cost?.paidCalls ?? 0)),
      // Billed all the same: replies without a usable label, and retries after a reply was lost.
      paid_unlabelled: sum(input.scored.map((s) => s.cost?.paidUnlabelled ?? 0)),
      paid_retries: sum(input.scored.map((s) => s.cost?.paidRetries ?? 0)),
      // Calls without usage in the reply: their tokens and dollars are upper-bound estimates.
      estimated_calls: sum(input.scored.map((s) => s.cost?.estimatedCalls ?? 0)),
      cache_hits: sum(input.scored.map((s) => s.cost?.cacheHits ?? 0)),
      rate_limited: sum(input.scored.map((s) => s.cost?.rateLimited ?? 0)),
      prompt_tokens: sum(input.scored.map((s) => s.cost?.promptTokens ?? 0)),
      completion_tokens: sum(input.scored.map((s) => s.cost?.completionTokens ?? 0)),
    },
    timings_seconds: input.timings,
    train: input.train,
    lineage: {
      prompts_file: { path: c.prompts.path, sha256: input.prompts.promptsFileSha256 },
      policy_in: input.policyIn,
      reference: input.reference,
      checkpoint_out: input.train.checkpoint,
      labeler:
        c.labeler.kind === 'judge'
          ? { kind: 'judge', model: c.labeler.model, base_url: c.labeler.baseURL, template_sha256: input.scored[0]?.cost?.templateSha256 ?? null }
          : labelerLineage(c.labeler, input.scored, input.composite?.identities),
    },
    artifacts: {
      prompts: input.prompts.shards,
      samples: input.samples.map((s) => s.ref),
      // Samples cut at maxTokens, kept for audit (listed only when there are any).
      ...(input.samples.some((s) => s.truncatedSamples)
        ? { samples_truncated: input.samples.flatMap((s) => (s.truncatedSamples ? [s.truncatedSamples] : [])) }
        : {}),
      scored: input.scored.map((s) => s.ref),
      feedback: input.feedback.files,
    },
  };
  const summary: IterationSummary = {
    iteration,
    prompts: counts.prompts_in,
    samples: counts.samples,
    labelled: counts.scored,
    examples: counts.examples,
    rewardMean: input.feedback.stats.reward?.mean ?? null,
    checkpoint: input.train.checkpoint.path,
    checkpointSha256: input.train.checkpoint.sha256,
    manifest: file,
    wallSeconds: sum(Object.values(input.timings)),
    emptyReason,
    costUsd: judgeUsd,
    ...(lag ? { policyLag: { min: lag.record.min, max: lag.record.max } } : {}),
    ...(input.eval ? { eval: input.eval } : {}),
  };
  return { manifest, summary };
}

/**
 * How far behind the checkpoint iteration `iteration` trains from (version `iteration`) its shards'
 * checkpoints were, when the shards recorded them (iterations that overlap); null otherwise.
 */
export function policyLag(iteration: number, samples: SampleShardResult[]) {
  const from = samples.map((s) => s.sampledFrom).filter((f) => f !== undefined);
  if (from.length === 0) return null;
  const behind = from.map((f) => iteration - f.version);
  const checkpoints = [...new Map(from.map((f) => [`${f.version}:${f.sha256}`, f])).values()].sort((a, b) => a.version - b.version);
  return { record: { trains_from_version: iteration, min: Math.min(...behind), max: Math.max(...behind), sampled_from: checkpoints } };
}

/** Why an iteration has no samples at all: what the sample stage skipped, dropped and failed, and the setting to look at. */
function noSamplesReason(counts: {
  prompts_skipped: Record<string, number>;
  samples_dropped: Record<string, number>;
  samples_failed: Record<string, number>;
}): string {
  const list = (r: Record<string, number>) =>
    Object.entries(r)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  const parts = [
    Object.keys(counts.samples_dropped).length ? `samples dropped: ${list(counts.samples_dropped)}` : '',
    Object.keys(counts.samples_failed).length ? `samples failed: ${list(counts.samples_failed)}` : '',
    Object.keys(counts.prompts_skipped).length ? `prompts skipped: ${list(counts.prompts_skipped)}` : '',
  ].filter(Boolean);
  const hint = counts.samples_dropped.truncated ? '; every answer hit sampler.maxTokens: raise it, or keep cut answers with sampler.dropTruncated: false' : '';
  return `0 examples: the sampler kept no samples (${parts.join('; ') || 'none returned'})${hint}`;
}
