/**
 * The eval stage of an iteration (docs/evaluation.md; deterministic workflow code): the new
 * checkpoint answers the held-out prompts on the sample queue, the answers are scored on the score
 * queue, and (once per campaign) the initial policy's answers are made the same way as the baseline;
 * then the metrics. Every step is an idempotent activity: a rerun redoes nothing that finished.
 */
import type { BestBy, EvalSummary, IterationEvalInput } from '../activities/eval/summary';
import type { EvalStage } from '../activities/queues/eval';
import type { FileRef, IterationScope } from '../activities/types';
import { activityProxies } from './activity-proxies';
import { isNewBest, metricOf } from './eval-rules';
import { ShardFailure, tagShard } from './failures';
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import { ERROR_TYPE } from '../config/errors';

/** The eval judge ran out of the campaign's budget: the iteration hands the campaign a budget pause, as labeling does. */
export type EvalOutcome = EvalSummary | { budgetExhausted: { message: string; spentUsd: number } };

export async function evalStage(scope: IterationScope, ev: IterationEvalInput, checkpoint: FileRef, budgetUsd: number | null): Promise<EvalOutcome> {
  try {
    return await evaluate(scope, ev, checkpoint, budgetUsd);
  } catch (e) {
    const f = e instanceof ShardFailure ? e.failure : e;
    const cause = f instanceof ActivityFailure ? f.cause : f;
    if (!(cause instanceof ApplicationFailure && cause.type === ERROR_TYPE.JudgeBudgetExhausted)) throw e;
    return { budgetExhausted: { message: cause.message, spentUsd: (cause.details?.[0] as { spentUsd?: number } | undefined)?.spentUsd ?? 0 } };
  }
}

async function evaluate(scope: IterationScope, ev: IterationEvalInput, checkpoint: FileRef, budgetUsd: number | null): Promise<EvalSummary> {
  const { config, iteration } = scope;
  const acts = activityProxies(config.durability);
  const at = `iteration ${iteration}`;
  const prompts = await acts.evalLocal.prepareEvalPrompts.executeWithOptions({ summary: `prepare eval prompts · ${at}` }, [scope]);
  const n = prompts.shards.length;
  // eval.queue: eval: on the eval queue's workers, apart from training's sampling and scoring.
  const onEval = config.eval!.queue === 'eval';
  const sampler = onEval ? acts.evalQueue : acts.sample;
  const scorer = onEval ? acts.evalQueue : acts.score;
  const answer = (policy: FileRef, stage: EvalStage) =>
    Promise.all(
      prompts.shards.map(async (p, shard) => {
        const s = await tagShard(
          shard,
          sampler.sampleShard.executeWithOptions({ summary: `sample ${stage} shard ${shard}/${n} · ${at}` }, [
            { ...scope, shard, prompts: p, policy, evaluation: { stage } },
          ]),
        );
        await tagShard(
          shard,
          scorer.scoreShard.executeWithOptions({ summary: `score ${stage} shard ${shard}/${n} · ${at}` }, [
            { ...scope, shard, samples: s.ref, evaluation: { stage } },
          ]),
        );
      }),
    );
  const vsBest = ev.againstBest !== undefined;
  // The answers compared with: the initial policy's (made once, by the first evaluation), or the best checkpoint's own eval answers.
  const baselineIteration = vsBest ? ev.againstBest! : (ev.baselineIteration ?? iteration);
  const baselineStage: EvalStage = vsBest ? 'eval' : 'eval/baseline';
  const makeBaseline = !vsBest && ev.baselineIteration === null;
  await Promise.all([answer(checkpoint, 'eval'), ...(makeBaseline ? [answer(ev.initial, 'eval/baseline')] : [])]);
  if (config.eval!.judge) {
    // The eval judge: each eval answer against the baseline's, both orders, on the judge queue (the campaign's cache and budget).
    await Promise.all(
      prompts.shards.map(async (_p, shard) => {
        const pairs = await acts.evalLocal.writeEvalPairs.executeWithOptions({ summary: `eval pairs shard ${shard}/${n} · ${at}` }, [
          { ...scope, shard, baselineIteration, baselineStage },
        ]);
        await tagShard(
          shard,
          acts.judge.judgeShard.executeWithOptions({ summary: `judge eval shard ${shard}/${n} · ${at}` }, [
            { ...scope, shard, samples: pairs, budgetUsd, evaluation: { stage: 'eval', judged: true } },
          ]),
        );
      }),
    );
  }
  const summary = await acts.evalLocal.writeEvalMetrics.executeWithOptions({ summary: `eval metrics · ${at}` }, [
    { ...scope, shards: n, baselineIteration, baselineStage },
  ]);
  const by: BestBy = config.eval!.bestBy;
  const value = metricOf(summary, by);
  const isBest = isNewBest(value, by, ev.best, vsBest);
  return { ...summary, best: { by, value, isBest, bestIteration: isBest ? iteration : (ev.best?.iteration ?? null) } };
}
