/** The `reward-server` labeler on the score queue: one samples shard scored by a served reward model. */
import { heartbeat } from '@temporalio/activity';
import * as path from 'node:path';
import { RewardServerConfigError } from '../../../config/errors';
import { registerSecret } from '../../../config/redact';
import { campaignDir } from '../../artifacts/store';
import { refOf } from '../../durable';
import type { ShardLabeler } from '../labeler';
import { ReplyCache } from '../../openai/reply-cache';
import type { RewardServerConfig } from './config';
import { RewardServerCaller, scoreFileRemote } from '../../score/remote/remote-scorer';

export const rewardServerLabeler: ShardLabeler<RewardServerConfig> = {
  async label(job) {
    const l = job.settings;
    const apiKey = l.apiKeyEnv ? (process.env[l.apiKeyEnv] ?? '') : '';
    if (l.apiKeyEnv && !apiKey) throw new RewardServerConfigError(`labeler.apiKeyEnv: $${l.apiKeyEnv} is not set in the score worker's environment`);
    if (apiKey) registerSecret(apiKey);
    const dir = campaignDir(job.artifactsRoot, job.campaignId);
    const caller = new RewardServerCaller(l, apiKey, new ReplyCache(path.join(dir, 'reward-cache'), 'rewards'), path.join(dir, 'reward-limiter'));
    try {
      const r = await scoreFileRemote(l, caller, job.samples.path, job.out, (p) => heartbeat(p));
      return {
        ref: refOf(r, r.items),
        extra: { samples: r.items, labelled: r.labelled, unlabelled: r.unlabelled, truncated: 0, batchesResumed: 0 },
      };
    } finally {
      await caller.close();
    }
  },
};
