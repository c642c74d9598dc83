/**
 * Activities of the labeling queues: `alignloop-score` (reward-model scoring with ONNX Runtime)
 * and `alignloop-judge` (LLM judging, online or through the Batch API). Each turns one samples
 * shard into one scored shard (or, for a pairwise judge, one judged-pairs shard).
 */
import { heartbeat } from '@temporalio/activity';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, JudgeBatchPending } from '../../config/errors';
import { registerSecret } from '../../config/redact';
import type { JudgeConfig } from '../judge/config';
import { FileRef, findComplete, iterationDir, shardFile, verifyRef } from '../artifacts/store';
import { BatchRecord, batchClient, batchStatus, judgeFromBatch, submitBatch } from '../judge/batch';
import { BudgetLedger } from '../judge/budget-ledger';
import { judgeBudget, judgeDirs } from '../judge/campaign-paths';
import { judgeFile, JudgeFileResult, planJudging } from '../judge/judge-file';
import { guarded, once, refOf, testSlowdown } from '../durable';
import { shardLabelerFor } from '../labelers';
import { credentialNames } from '../process/child-env';
import { writeFileAtomic } from '../artifacts/atomic-file';
import type { CompositeConfig, MemberConfig } from '../labelers/composite/config';
import { memberFile, memberSamples } from '../labelers/composite/member-files';
import type { CampaignConfig, IterationScope, ScoreShardResult } from '../types';
import { EvalStage, evalSettings } from './eval';
import { EVAL_LABELER_RECORD } from '../eval/summary';

export type LabelShardInput = IterationScope & {
  shard: number;
  samples: FileRef;
  /**
   * Eval answers (eval:): scored into iter-NNN/<stage>/scored/ by eval.labeler, else the campaign's labeler;
   * `judged`: eval answer / baseline answer pairs judged by eval.judge into iter-NNN/<stage>/judged/.
   */
  evaluation?: { stage: EvalStage; judged?: boolean };
};
export type JudgeShardInput = LabelShardInput & { budgetUsd: number | null };
/** A composite labeler's member (by its index in labeler.members) on one shard. */
export type MemberShardInput = LabelShardInput & { member: number };
export type JudgeMemberShardInput = MemberShardInput & { budgetUsd: number | null };

function compositeOf(c: CampaignConfig): CompositeConfig {
  if (c.labeler.kind !== 'composite') throw new ConfigError('campaign', ['this activity needs a composite labeler']);
  return c.labeler;
}

/** A member's shard: the samples its gates passed go to `label`; nothing asked, nothing run. */
async function labelMember(
  input: MemberShardInput,
  label: (samples: FileRef, out: string, member: MemberConfig) => Promise<{ ref: FileRef; extra: Omit<ScoreShardResult, 'ref'> }>,
): Promise<ScoreShardResult> {
  const { config: c, campaignId, iteration, shard } = input;
  const l = compositeOf(c);
  const m = l.members[input.member];
  const scope = { root: c.artifacts.root, campaignId, iteration, shard };
  const out = memberFile(scope, m.name);
  return once(out, async () => {
    verifyRef(input.samples, 'sample shard');
    const asked = await memberSamples(scope, l, input.member, input.samples);
    if (asked.count === 0) {
      const w = writeFileAtomic(out, []);
      return { ref: refOf(w, 0), extra: { samples: 0, labelled: 0, unlabelled: {}, truncated: 0, batchesResumed: 0 } };
    }
    return label(asked, out, m);
  });
}

const scoredFile = (input: LabelShardInput) =>
  shardFile(
    input.config.artifacts.root,
    input.campaignId,
    input.iteration,
    input.evaluation ? `${input.evaluation.stage}/${input.evaluation.judged ? 'judged' : 'scored'}` : 'scored',
    input.shard,
  );

export function createScoreActivities() {
  return {
    async scoreShard(input: LabelShardInput): Promise<ScoreShardResult> {
      const { config: c, campaignId, iteration, shard } = input;
      const out = scoredFile(input);
      return once(out, async () => {
        verifyRef(input.samples, 'sample shard');
        const own = input.evaluation ? evalSettings(c).labeler : undefined;
        const settings = own ?? c.labeler;
        const labeler = await shardLabelerFor(settings);
        return labeler.label({
          ...(own ? { identityRecord: EVAL_LABELER_RECORD } : {}),
          settings,
          artifactsRoot: c.artifacts.root,
          campaignId,
          iteration,
          shard,
          samples: input.samples,
          out,
          credentials: credentialNames(c),
        });
      });
    },

    /** A composite's reward-model, reward-server or verifier member on one shard (its gates' survivors only). */
    async scoreMemberShard(input: MemberShardInput): Promise<ScoreShardResult> {
      const { config: c, campaignId, iteration, shard } = input;
      return labelMember(input, async (samples, out, m) => {
        const labeler = await shardLabelerFor(m.labeler);
        return labeler.label({
          settings: m.labeler,
          artifactsRoot: c.artifacts.root,
          campaignId,
          iteration,
          shard,
          samples,
          out,
          credentials: credentialNames(c),
          setting: `labeler.members[${input.member}].labeler`,
        });
      });
    },
  };
}

function judgeShardExtra(r: JudgeFileResult): Omit<ScoreShardResult, 'ref'> {
  return {
    samples: r.samples,
    labelled: r.labelled,
    unlabelled: r.unlabelled,
    truncated: 0,
    batchesResumed: 0,
    ...(r.pairStats ? { pairs: r.pairStats } : {}),
    cost: {
      usd: r.costUsd,
      paidCalls: r.paidCalls,
      paidUnlabelled: r.paidUnlabelled,
      estimatedCalls: r.estimatedCalls,
      paidRetries: r.paidRetries,
      cacheHits: r.cacheHits,
      rateLimited: r.rateLimited,
      promptTokens: r.promptTokens,
      completionTokens: r.completionTokens,
      templateSha256: r.templateSha256,
    },
    ...(r.delimiterSamples ? { judgeDelimiterSamples: r.delimiterSamples } : {}),
  };
}

/** The judge settings; the key comes from this worker's environment and never enters inputs, history or artifacts. */
function judgeOf(c: CampaignConfig, evaluation?: LabelShardInput['evaluation']): { judge: JudgeConfig; apiKey: string } {
  // The eval judge: every pair (eval answer, baseline answer) in both orders.
  const l = evaluation?.judged ? evalSettings(c).judge : c.labeler;
  if (l?.kind !== 'judge') throw new ConfigError('campaign', [`this activity needs a judge ${evaluation?.judged ? 'as eval.judge' : 'labeler'}`]);
  const apiKey = process.env[l.apiKeyEnv];
  registerSecret(apiKey);
  return { judge: evaluation?.judged ? { ...l, mode: 'pairwise', pairing: 'all', swap: 'both' } : l, apiKey: apiKey || 'none' };
}

function batchRecordFile(input: LabelShardInput): string {
  return path.join(
    iterationDir(input.config.artifacts.root, input.campaignId, input.iteration),
    'judge-batches',
    `shard-${String(input.shard).padStart(5, '0')}.json`,
  );
}

export function createJudgeActivities() {
  return {
    /** A composite's judge member on one shard (online; only the samples its gates passed are judged, and paid for). */
    async judgeMemberShard(input: JudgeMemberShardInput): Promise<ScoreShardResult> {
      const { config: c, campaignId, iteration } = input;
      return labelMember(input, async (samples, out, m) => {
        if (m.labeler.kind !== 'judge') throw new ConfigError('campaign', [`labeler.members.${m.name} is not a judge`]);
        const judge = m.labeler;
        const apiKey = process.env[judge.apiKeyEnv];
        registerSecret(apiKey);
        const r = await judgeFile(samples.path, out, {
          config: judge,
          apiKey: apiKey || 'none',
          ...judgeDirs(c, campaignId),
          budget: judgeBudget(c, campaignId, iteration, input.budgetUsd),
          onProgress: async (p) => {
            heartbeat(p);
            await testSlowdown();
          },
        });
        return { ref: refOf(r, r.items), extra: judgeShardExtra(r) };
      });
    },

    async judgeShard(input: JudgeShardInput): Promise<ScoreShardResult> {
      const { config: c, campaignId, iteration } = input;
      const file = scoredFile(input);
      return once(file, async () => {
        const { judge, apiKey } = judgeOf(c, input.evaluation);
        verifyRef(input.samples, 'sample shard');
        // once() keeps heartbeating while rate limits hold requests back; progress goes out as it comes.
        const r = await judgeFile(input.samples.path, file, {
          config: judge,
          apiKey,
          ...judgeDirs(c, campaignId),
          budget: judgeBudget(c, campaignId, iteration, input.budgetUsd),
          onProgress: async (p) => {
            heartbeat(p);
            await testSlowdown();
          },
        });
        return { ref: refOf(r, r.items), extra: judgeShardExtra(r) };
      });
    },

    /** Batch mode, step 1: upload what the cache lacks and create the batch (idempotent: see judge/batch.ts). */
    async submitJudgeBatch(input: JudgeShardInput): Promise<{ batchId: string | null; requests: number }> {
      const { config: c, campaignId, iteration, shard } = input;
      if (findComplete(scoredFile(input))) return { batchId: null, requests: 0 };
      return guarded(async () => {
        const { judge, apiKey } = judgeOf(c);
        verifyRef(input.samples, 'sample shard');
        const plan = await planJudging(input.samples.path, judge);
        const key = createHash('sha256')
          .update(JSON.stringify([campaignId, iteration, shard, input.samples.sha256, plan.template.sha256]))
          .digest('hex')
          .slice(0, 32);
        const rec = await submitBatch(plan, {
          client: batchClient(judge, apiKey),
          cacheDir: judgeDirs(c, campaignId).cacheDir,
          key,
          recordFile: batchRecordFile(input),
          ledger: new BudgetLedger(judgeBudget(c, campaignId, iteration, input.budgetUsd)),
        });
        return { batchId: rec.batchId, requests: rec.requests };
      });
    },

    /** Batch mode, step 2: one short look at the batch. Not finished: a retryable failure; the retry policy is the poll interval. */
    async awaitJudgeBatch(input: { config: CampaignConfig; batchId: string }): Promise<{ status: string; completed: number; failed: number; total: number }> {
      return guarded(async () => {
        const { judge, apiKey } = judgeOf(input.config);
        const s = await batchStatus(batchClient(judge, apiKey), judge, input.batchId);
        if (!s.terminal) throw new JudgeBatchPending(`batch ${input.batchId} is ${s.status}: ${s.completed + s.failed}/${s.total} done`);
        return s;
      });
    },

    /** Batch mode, step 3: download the results into the cache, then write the shard from the cache alone. */
    async collectJudgeBatch(input: JudgeShardInput & { batchId: string | null }): Promise<ScoreShardResult> {
      const { config: c, campaignId, iteration } = input;
      const file = scoredFile(input);
      return once(file, async () => {
        const { judge, apiKey } = judgeOf(c);
        verifyRef(input.samples, 'sample shard');
        const record = input.batchId ? (JSON.parse(fs.readFileSync(batchRecordFile(input), 'utf8')) as BatchRecord) : null;
        const r = await judgeFromBatch(
          await planJudging(input.samples.path, judge),
          file,
          { config: judge, apiKey, ...judgeDirs(c, campaignId), onProgress: (p) => heartbeat(p) },
          input.batchId
            ? {
                client: batchClient(judge, apiKey),
                batchId: input.batchId,
                ledger: new BudgetLedger(judgeBudget(c, campaignId, iteration, null)),
                reservation: record?.reservation,
              }
            : null,
        );
        return { ref: refOf(r, r.items), extra: judgeShardExtra(r) };
      });
    },
  };
}

export type ScoreActivities = ReturnType<typeof createScoreActivities>;
export type JudgeActivities = ReturnType<typeof createJudgeActivities>;
