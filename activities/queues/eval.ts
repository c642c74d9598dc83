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
import { FileRef, findComplete, iterationDir, markComplete, shardFile } from '../artifacts/store';
import { guarded, refOf } from '../durable';
import { overlappingPrompts } from '../eval/held-out';
import { EvalAnswer, evalMetrics, pairwise } from '../eval/metrics';
import type { SampleRecord } from '../samplers/sampler';
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

/** A judged pair's outcome for the eval answer (sample 0 of its pair; the baseline's is 1): 1 win, 0 loss, 0.5 tie, null unlabelled. */
function judgedOutcome(r: JudgedPairRecord): number | null {
  if (r.label_status === 'tie' || r.label_status === 'inconsistent') return 0.5;
  if (r.winner !== 'x' && r.winner !== 'y') return null;
  return r.sample_ids[r.winner === 'x' ? 0 : 1] === 0 ? 1 : 0;
}

interface JudgedPairRecord {
  prompt_id: string;
  sample_ids: [number, number];
  outputs: [ScoredSample['output'] | string, ScoredSample['output'] | string];
  winner: string | null;
  label_status: string;
}

/** The eval judge's verdicts as answers the metrics pair up: the eval answer scores its outcome, the baseline 0.5. */
async function judgedAnswers(c: CampaignConfig, campaignId: string, iteration: number, shards: number) {
  const current: EvalAnswer[] = [];
  const baseline: EvalAnswer[] = [];
  const counts = { pairs: 0, inconsistent: 0, unlabelled: 0 };
  for (let k = 0; k < shards; k++) {
    const file = shardFile(c.artifacts.root, campaignId, iteration, 'eval/judged', k);
    if (!findComplete(file)) throw new ArtifactError(`${file} has no valid completion record: was it moved or edited? restore it, then resume`);
    for (const r of await readJsonl<JudgedPairRecord>(file)) {
      counts.pairs++;
      if (r.label_status === 'inconsistent') counts.inconsistent++;
      const outcome = judgedOutcome(r);
      if (outcome === null) counts.unlabelled++;
      const mine = r.sample_ids[0] === 0 ? 0 : 1;
      current.push({ key: r.prompt_id, reward: outcome, length: answerText(r.outputs[mine] as ScoredSample['output']).length });
      baseline.push({ key: r.prompt_id, reward: 0.5, length: answerText(r.outputs[1 - mine] as ScoredSample['output']).length });
    }
  }
  return { current, baseline, counts };
}

export function createEvalActivities() {
  return {
    /**
     * eval.judge: shard k's eval answers each paired with the baseline's answer to the same prompt and
     * sample number, as a two-sample prompt group (`<prompt_id>#<sample_id>`: the eval answer is sample 0)
     * for the pairwise judge: iter-NNN/eval/pairs/.
     */
    async writeEvalPairs(input: IterationScope & { shard: number; baselineIteration: number; baselineStage?: EvalStage }): Promise<FileRef> {
      const { config: c, campaignId, iteration, shard } = input;
      evalSettings(c);
      const file = shardFile(c.artifacts.root, campaignId, iteration, 'eval/pairs', shard);
      const done = findComplete(file);
      if (done) return done.ref;
      return guarded(async () => {
        const read = async (it: number, stage: EvalStage) => {
          const f = shardFile(c.artifacts.root, campaignId, it, `${stage}/samples`, shard);
          if (!findComplete(f)) throw new ArtifactError(`${f} has no valid completion record: was it moved or edited? restore it, then resume`);
          return readJsonl<SampleRecord>(f);
        };
        const base = new Map((await read(input.baselineIteration, input.baselineStage ?? 'eval/baseline')).map((b) => [`${b.prompt_id}#${b.sample_id}`, b]));
        const lines: string[] = [];
        for (const a of await read(iteration, 'eval')) {
          const key = `${a.prompt_id}#${a.sample_id}`;
          const b = base.get(key);
          if (!b) continue;
          lines.push(JSON.stringify({ ...a, prompt_id: key, sample_id: 0, eval_answer: 'checkpoint' }) + '\n');
          lines.push(JSON.stringify({ ...b, prompt_id: key, sample_id: 1, eval_answer: 'baseline' }) + '\n');
        }
        const ref = refOf(writeFileAtomic(file, lines), lines.length);
        markComplete(ref, {});
        return ref;
      });
    },

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
    async writeEvalMetrics(input: IterationScope & { shards: number; baselineIteration: number; baselineStage?: EvalStage }): Promise<EvalSummary> {
      const { config: c, campaignId, iteration } = input;
      const file = path.join(iterationDir(c.artifacts.root, campaignId, iteration), 'eval', 'metrics.json');
      const done = findComplete<EvalSummary>(file);
      if (done) return done.extra;
      return guarded(async () => {
        const cur = await scoredAnswers(c, campaignId, iteration, 'eval', input.shards);
        const against = input.baselineStage === 'eval' ? 'best' : 'initial';
        const base = await scoredAnswers(c, campaignId, input.baselineIteration, input.baselineStage ?? 'eval/baseline', input.shards);
        const m = evalMetrics(cur.answers, base.answers, cur.truncated);
        // With an eval judge, the win rate is its verdicts (the labeler's rewards still give rewardMean).
        const judged = evalSettings(c).judge ? await judgedAnswers(c, campaignId, iteration, input.shards) : null;
        if (judged) m.pairwise = pairwise(judged.current, judged.baseline);
        const metrics = {
          iteration,
          baseline_iteration: input.baselineIteration,
          against,
          win_rate_by: judged ? 'judge' : 'labeler',
          ...m,
          ...(judged ? { judged: judged.counts } : {}),
        };
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
          ...(against === 'best' ? { against } : {}),
          winRateBy: judged ? 'judge' : 'labeler',
          ...(judged ? { judged: judged.counts } : {}),
          metricsFile: ref,
        };
        markComplete(ref, summary);
        return summary;
      });
    },
  };
}

export type EvalActivities = ReturnType<typeof createEvalActivities>;
