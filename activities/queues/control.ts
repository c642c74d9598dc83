/**
 * Activities of the `alignloop-control` queue: the cheap steps around the shards (the initial
 * policy, the iteration's prompt slice, the feedback stage, the manifest).
 */
import * as path from 'node:path';
import { ArtifactError, InputError } from '../../config/errors';
import { sha256File, writeFileAtomic, writeJsonAtomic } from '../artifacts/atomic-file';
import { campaignDir, FileRef, findComplete, iterationDir, markComplete, shardFile, verifyRef } from '../artifacts/store';
import { guarded, refOf } from '../durable';
import { writeFeedbackStreamed } from '../feedback/streamed';
import { formatFile } from '../feedback/formats';
import { JudgedPairCollector, readJudgedPairs } from '../feedback/judged-pairs';
import { BudgetLedger } from '../judge/budget-ledger';
import { judgeBudget } from '../judge/campaign-paths';
import { buildIterationManifest, ManifestInput, paysJudge } from '../manifest';
import { combineCompositeIteration, CompositeIterationStats, compositeStatsFile } from '../labelers/composite/combine-shards';
import { disagreementRule } from '../labelers/composite/config';
import { iterationSlice, loadPrompts } from '../prompts';
import { trainerFor } from '../trainers';
import type {
  CampaignConfig,
  FeedbackResult,
  FeedbackStats,
  IterationScope,
  IterationSummary,
  PreparedPrompts,
  SampleShardResult,
  ScoreShardResult,
} from '../types';

/** The pairwise judge's verdicts are the feedback: no reward gaps to pair on. */
async function feedbackFromJudgedPairs(c: CampaignConfig, scored: FileRef[]) {
  const pairs = new JudgedPairCollector(c.feedback.seed);
  for (const ref of scored) {
    verifyRef(ref, 'judged-pairs shard');
    await readJudgedPairs(ref.path, pairs);
  }
  return pairs.finish();
}

/** A stage's shards: their refs (iterations before the shard pipeline), or their count (read from their completion manifests). */
type ShardsOrRefs = { scored: FileRef[]; shards?: undefined } | { shards: number; scored?: undefined };

export type ManifestRequest = Omit<ManifestInput, 'samples' | 'scored'> &
  ({ samples: SampleShardResult[]; scored: ScoreShardResult[]; shards?: undefined } | { shards: number; samples?: undefined; scored?: undefined });

/** Each shard's result as its completion manifest recorded it (a missing one means the shard never finished). */
function shardResults<E>(root: string, campaignId: string, iteration: number, stage: string, n: number): ({ ref: FileRef } & E)[] {
  return Array.from({ length: n }, (_, k) => {
    const file = shardFile(root, campaignId, iteration, stage, k);
    const done = findComplete<E>(file);
    if (!done)
      throw new ArtifactError(
        `${stage} shard ${k} of iteration ${iteration} (${file}) has no valid completion record: was it moved or edited? restore it, then resume`,
      );
    return { ref: done.ref, ...done.extra };
  });
}

function withShardResults(r: ManifestRequest): ManifestInput {
  if (r.shards === undefined) return r;
  const { config: c, campaignId, iteration } = r;
  return {
    ...r,
    samples: shardResults<Omit<SampleShardResult, 'ref'>>(c.artifacts.root, campaignId, iteration, 'samples', r.shards),
    scored: shardResults<Omit<ScoreShardResult, 'ref'>>(c.artifacts.root, campaignId, iteration, 'scored', r.shards),
  };
}

export function createControlActivities() {
  return {
    async initPolicy(input: { campaignId: string; config: CampaignConfig; campaignRunId?: string }): Promise<FileRef> {
      const c = input.config;
      const trainer = await trainerFor(c.trainer);
      const file = path.join(campaignDir(c.artifacts.root, input.campaignId), 'initial', trainer.checkpointName);
      const done = findComplete(file);
      if (done) return done.ref;
      return guarded(async () => {
        const ref = refOf(trainer.writeInitialPolicy(c.trainer, c, file), 1);
        markComplete(ref, {});
        return ref;
      });
    },

    async preparePrompts(scope: IterationScope): Promise<PreparedPrompts> {
      const { config: c, campaignId, iteration } = scope;
      const indexFile = path.join(iterationDir(c.artifacts.root, campaignId, iteration), 'prompts', 'index.json');
      const done = findComplete<PreparedPrompts>(indexFile);
      if (done) return done.extra;
      return guarded(async () => {
        const all = await loadPrompts(c.prompts.path);
        const slice = iterationSlice(all.length, c.prompts.perIteration, iteration, c.prompts.seed);
        if (!c.prompts.reuse && (iteration + 1) * c.prompts.perIteration > all.length) {
          throw new InputError(
            c.prompts.path,
            undefined,
            `iteration ${iteration} needs prompts beyond the ${all.length} in the file`,
            'set prompts.reuse: true or fewer iterations',
          );
        }
        const shards: FileRef[] = [];
        for (let k = 0; k * c.sharding.promptsPerShard < slice.length; k++) {
          const part = slice.slice(k * c.sharding.promptsPerShard, (k + 1) * c.sharding.promptsPerShard).map((i) => all[i]);
          const file = shardFile(c.artifacts.root, campaignId, iteration, 'prompts', k);
          shards.push(
            refOf(
              writeFileAtomic(
                file,
                part.map((p) => JSON.stringify(p) + '\n'),
              ),
              part.length,
            ),
          );
        }
        const result: PreparedPrompts = { shards, promptsFileSha256: sha256File(c.prompts.path), promptsIn: slice.length };
        markComplete(refOf(writeJsonAtomic(indexFile, result), shards.length), result);
        return result;
      });
    },

    async buildIterationFeedback(input: IterationScope & ShardsOrRefs): Promise<FeedbackResult> {
      const { config: c, campaignId, iteration } = input;
      const dir = path.join(iterationDir(c.artifacts.root, campaignId, iteration), 'feedback');
      const statsFile = path.join(dir, 'stats.json');
      const done = findComplete<FeedbackResult>(statsFile);
      if (done) return done.extra;
      return guarded(async () => {
        const pairwiseJudge = c.labeler.kind === 'judge' && c.labeler.mode === 'pairwise';
        // A composite's rewards are combined across the whole iteration first (normalisation sees every shard).
        if (c.labeler.kind === 'composite')
          await combineCompositeIteration(c.labeler, c.artifacts.root, campaignId, iteration, input.shards ?? input.scored!.length);
        const scored = input.scored ?? shardResults<ScoreShardResult>(c.artifacts.root, campaignId, iteration, 'scored', input.shards!).map((r) => r.ref);
        let files: FeedbackResult['files'] = null;
        let stats: FeedbackStats;
        if (!pairwiseJudge) {
          // Streamed: memory holds one scored shard at a time, however large the iteration.
          const rule = c.labeler.kind === 'composite' ? disagreementRule(c.labeler) : undefined;
          const out = await writeFeedbackStreamed(rule ? { ...c.feedback, disagreement: rule } : c.feedback, scored, dir);
          stats = out.stats;
          files = out.files;
        } else {
          const built = await feedbackFromJudgedPairs(c, scored);
          stats = built.stats;
          const examples = built.examples;
          if (examples.length > 0) {
            files = {
              jsonl: refOf(writeFileAtomic(path.join(dir, 'feedback.jsonl'), formatFile(examples, 'jsonl')), examples.length),
              halos: refOf(writeFileAtomic(path.join(dir, 'feedback.halos.json'), formatFile(examples, 'halos')), examples.length),
              trl: refOf(writeFileAtomic(path.join(dir, 'feedback.trl.jsonl'), formatFile(examples, 'trl')), examples.length),
            };
          }
        }
        const result: FeedbackResult = { files, stats };
        markComplete(refOf(writeJsonAtomic(statsFile, stats), stats.examples_out), result);
        return result;
      });
    },

    async writeIterationManifest(given: ManifestRequest): Promise<IterationSummary> {
      const input = withShardResults(given);
      const { config: c, campaignId, iteration } = input;
      const file = path.join(iterationDir(c.artifacts.root, campaignId, iteration), 'manifest.json');
      const done = findComplete<IterationSummary>(file);
      if (done) return done.extra;
      return guarded(async () => {
        // The iteration's ledger also holds what eval.judge spent (the campaign's budget).
        const ledgerSpent = paysJudge(c.labeler) || c.eval?.judge ? new BudgetLedger(judgeBudget(c, campaignId, iteration, null)).spent() : 0;
        const composite =
          c.labeler.kind === 'composite'
            ? findComplete<CompositeIterationStats>(compositeStatsFile(c.artifacts.root, campaignId, iteration))?.extra
            : undefined;
        const { manifest, summary } = buildIterationManifest(composite ? { ...input, composite } : input, file, ledgerSpent);
        markComplete(refOf(writeJsonAtomic(file, manifest), 1), summary);
        return summary;
      });
    },
  };
}

export type ControlActivities = ReturnType<typeof createControlActivities>;
