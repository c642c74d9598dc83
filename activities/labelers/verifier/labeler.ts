/** The `verifier` labeler on the score queue: one samples shard judged by a deterministic program. */
import { heartbeat } from '@temporalio/activity';
import * as path from 'node:path';
import { campaignDir, iterationDir } from '../../artifacts/store';
import { refOf } from '../../durable';
import type { ShardLabeler } from '../labeler';
import type { VerifierConfig } from './config';
import { verifierIdentity, verifyFile } from './run-verifier';

export const verifierLabeler: ShardLabeler<VerifierConfig> = {
  async label(job) {
    const l = job.settings;
    const r = await verifyFile(l, job.samples.path, job.out, {
      setting: job.setting ?? 'labeler',
      campaignDir: campaignDir(job.artifactsRoot, job.campaignId),
      // Per stage folder (scored, or a composite member's): its input, output and log stay for audit.
      workDir: path.join(
        iterationDir(job.artifactsRoot, job.campaignId, job.iteration),
        'verifier',
        path.basename(path.dirname(job.out)),
        `shard-${String(job.shard).padStart(3, '0')}`,
      ),
      credentials: job.credentials ?? [],
      heartbeat: (d) => heartbeat(d),
    });
    return {
      ref: refOf(r, r.items),
      extra: {
        samples: r.items,
        labelled: r.labelled,
        unlabelled: r.unlabelled,
        truncated: 0,
        batchesResumed: 0,
        verifier: { ...verifierIdentity(l), passed: r.passed, failed: r.failed },
      },
    };
  },
};
