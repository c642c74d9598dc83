/** The `reward-model` labeler on the score queue: one samples shard scored with ONNX Runtime. */
import { heartbeat, log } from '@temporalio/activity';
import * as path from 'node:path';
import { campaignDir } from '../../artifacts/store';
import { refOf, testSlowdown } from '../../durable';
import type { ShardLabeler } from '../labeler';
import type { RewardModelConfig } from './config';
import { checkLabelerIdentity } from '../../score/model-fingerprint';
import { scoreFile } from '../../score/score-file';
import { RewardScorer } from '../../score/scorer';

export const rewardModelLabeler: ShardLabeler<RewardModelConfig> = {
  async label(job) {
    const l = job.settings;
    const scorer = await RewardScorer.open({
      modelDir: l.model,
      provider: l.provider,
      deviceId: l.deviceId,
      batchTokens: l.batchTokens,
      maxLength: l.maxLength,
      modelFile: l.modelFile,
      threads: l.threads,
      rewardIndex: l.rewardIndex,
      chatTemplate: l.chatTemplate,
      tokenizerThreads: l.tokenizerThreads,
      inputFormat: l.inputFormat,
    });
    // The model that labels is part of the record: a changed folder is caught, not silently used.
    const fp = scorer.fingerprint;
    const version = checkLabelerIdentity(
      path.join(campaignDir(job.artifactsRoot, job.campaignId), job.identityRecord ?? 'labeler.json'),
      l.model,
      fp,
      job.iteration,
      l.allowModelChange,
    );
    const r = await scoreFile(scorer, job.samples.path, job.out, async (p) => {
      heartbeat(p);
      await testSlowdown();
    });
    if (r.progressDiscarded) log.warn(r.progressDiscarded, { campaignId: job.campaignId, iteration: job.iteration, shard: job.shard });
    return {
      ref: refOf(r, r.items),
      extra: {
        model: { sha256: fp.sha256, files: fp.files, version },
        samples: r.items,
        labelled: r.labelled,
        unlabelled: { ...(r.nonFinite ? { non_finite: r.nonFinite } : {}), ...r.failed } as Record<string, number>,
        truncated: r.truncated,
        batchesResumed: r.batchesResumed,
      },
    };
  },
};
