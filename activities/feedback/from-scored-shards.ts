/** The feedback of an iteration from its scored shards: what the feedback stage runs, and what `alignloop audit` re-runs to explain it. */
import type { CampaignConfig } from '../campaign/schema';
import { FileRef, verifyRef } from '../artifacts/store';
import { buildFeedback, DisagreementRule, ThresholdRule } from './build';
import { readScoredSamples } from './files';
import { ScoredSampleCollector } from './scored-samples';

/** The campaign's feedback settings, plus a composite labeler's disagreement rule when it has one. */
export type FeedbackSettings = CampaignConfig['feedback'] & { disagreement?: DisagreementRule };

export async function feedbackFromScoredShards(f: FeedbackSettings, scored: FileRef[]) {
  const collector = new ScoredSampleCollector('scored shards');
  for (const ref of scored) {
    verifyRef(ref, 'scored shard');
    collector.file = ref.path; // errors name the shard they come from
    await readScoredSamples(ref.path, collector);
  }
  return {
    groups: collector.groups,
    ...buildFeedback(collector.groups, {
      type: f.type,
      mode: f.mode,
      threshold: f.threshold as ThresholdRule | undefined,
      thresholdScope: f.perPrompt ? 'prompt' : 'global',
      seed: f.seed,
      ...(f.disagreement ? { disagreement: f.disagreement } : {}),
    }),
  };
}
