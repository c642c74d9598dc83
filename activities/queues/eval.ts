/**
 * The control steps of evaluation (docs/evaluation.md): the held-out prompts of an evaluated iteration
 * as shards under iter-NNN/eval/prompts/ (checked disjoint from the training prompts), and the
 * metrics of its scored answers against the baseline's. The answers themselves are sampled and scored
 * by the sample and score queues' own activities (`evaluation` in their input).
 */
import * as path from 'node:path';
import { ArtifactError, ConfigError, InputError } from '../../config/errors';
import { sha256File, writeFileAtomic, writeJsonAtomic } from '../artifacts/atomic-file';
import { readJsonl } from '../artifacts/json-lines';
import { findComplete, iterationDir, markComplete, shardFile } from '../artifacts/store';
import { guarded, refOf } from '../durable';
import { overlappingPrompts } from '../eval/held-out';
import { EvalAnswer, evalMetrics } from '../eval/metrics';
import type { EvalSummary } from '../eval/summary';
import type { ScoredSample } from '../feedback/scored-samples';
import { loadPrompts } from '../prompts';
import type { CampaignConfig, IterationScope, PreparedPrompts, SampleShardResult } from '../types';

/** Where an iteration's eval answers (`eval`) and the baseline's (`eval/baseline`) live. */
export type EvalStage = 'eval' | 'eval/baseline';

export function evalSettings(c: CampaignConfig): NonNullable<CampaignConfig['eval']> {
  if (!c.eval) throw new ConfigError('campaign', ['this activity evaluates, and the campaign has no eval block']);
  return c.eval;
}

function answerText(output: ScoredSample['output']): string {
  return typeof output === 'string' ? output : output.map((t) => t.content).join('\n');
}

/** The answers of `stage` (in `iteration`'s folder), each scored shard as its completion record vouches for it. */
async function scoredAnswers(c: CampaignConfig, campaignId: string, iteration: number, stage: EvalStage, shards: number) {
  const answers: EvalAnswer[] = [];
  let truncated = 0;
  for (let k = 0; k < shards; k++) {
    const file = shardFile(c.artifacts.root, campaignId, iteration, `${stage}/scored`, k);
    const done = findComplete(file);
    if (!done) throw new ArtifactError(`${file} has no valid completion record: was it moved or edited? restore it, then resume`);
    for (const r of await readJsonl<ScoredSample>(file)) {
      const reward = typeof r.reward === 'number' && Number.isFinite(r.reward) ? r.reward : null;
      answers.push({ key: `${r.prompt_id}#${r.sample_id}`, reward, length: answerText(r.output).length });
    }
    const sampled = findComplete<Omit<SampleShardResult, 'ref'>>(shardFile(c.artifacts.root, campaignId, iteration, `${stage}/samples`, k));
    truncated += sampled?.extra.samplesDropped?.truncated ?? 0;
  }
  return { answers, truncated };
}

export function createEvalActivities() {
  return {
    async prepareEvalPrompts(scope: IterationScope): Promise<PreparedPrompts> {
      const { config: c, campaignId, iteration } = scope;
      const e = evalSettings(c);
      const indexFile = path.join(iterationDir(c.artifacts.root, campaignId, iteration), 'eval', 'prompts', 'index.json');
      const done = findComplete<PreparedPrompts>(indexFile);
      if (done) return done.extra;
      return guarded(async () => {
        const overlap = await overlappingPrompts(c.prompts.path, e.prompts);
        if (overlap.length)
          throw new InputError(
            e.prompts,
            overlap[0],
            `${overlap.length} held-out prompt(s) are also in the training prompts ${c.prompts.path} (same prompt hash)`,
            'remove them from one of the files: an eval on training prompts measures memorisation',
          );
        const all = await loadPrompts(e.prompts);
        if (all.length === 0) throw new InputError(e.prompts, undefined, 'holds no prompts', 'add held-out prompts');
        const shards = [];
        for (let k = 0; k * c.sharding.promptsPerShard < all.length; k++) {
          const part = all.slice(k * c.sharding.promptsPerShard, (k + 1) * c.sharding.promptsPerShard);
          const lines = part.map((p) => JSON.stringify(p) + '\n');
          const ref = refOf(writeFileAtomic(shardFile(c.artifacts.root, campaignId, iteration, 'eval/prompts', k), lines), part.length);
          markComplete(ref, {}); // a record names every artifact (alignloop verify)
          shards.push(ref);
        }
        const result: PreparedPrompts = { shards, promptsFileSha256: sha256File(e.prompts), promptsIn: all.length };
        markComplete(refOf(writeJsonAtomic(indexFile, result), shards.length), result);
        return result;
      });
    },

    /** The metrics of this iteration's eval answers against the baseline's: iter-NNN/eval/metrics.json. */
    async writeEvalMetrics(input: IterationScope & { shards: number; baselineIteration: number }): Promise<EvalSummary> {
      const { config: c, campaignId, iteration } = input;
      const file = path.join(iterationDir(c.artifacts.root, campaignId, iteration), 'eval', 'metrics.json');
      const done = findComplete<EvalSummary>(file);
      if (done) return done.extra;
      return guarded(async () => {
        const cur = await scoredAnswers(c, campaignId, iteration, 'eval', input.shards);
        const base = await scoredAnswers(c, campaignId, input.baselineIteration, 'eval/baseline', input.shards);
        const m = evalMetrics(cur.answers, base.answers, cur.truncated);
        const metrics = { iteration, baseline_iteration: input.baselineIteration, ...m };
        const ref = refOf(writeJsonAtomic(file, metrics), 1);
        const p = m.pairwise;
        const summary: EvalSummary = {
          prompts: new Set(cur.answers.map((a) => a.key.split('#')[0])).size,
          answers: m.answers,
          labelled: m.labelled,
          rewardMean: m.rewardMean,
          winRate: p?.winRate ?? null,
          winRateCi: p?.ci ?? null,
          lcWinRate: p?.lcWinRate ?? null,
          wins: p?.wins ?? 0,
          losses: p?.losses ?? 0,
          ties: p?.ties ?? 0,
          meanLength: m.meanLength,
          baselineMeanLength: m.baseline?.meanLength ?? null,
          baselineRewardMean: m.baseline?.rewardMean ?? null,
          truncatedShare: m.truncatedShare,
          baselineIteration: input.baselineIteration,
          metricsFile: ref,
        };
        markComplete(ref, summary);
        return summary;
      });
    },
  };
}

export type EvalActivities = ReturnType<typeof createEvalActivities>;
