/**
 * trainer.kind: none. alignloop does not train: the policy is whatever the sampler serves, and each
 * iteration still samples, labels and writes feedback files (HALOs, TRL, JSONL) for training
 * elsewhere. The "checkpoint" records that, so lineage stays complete: with `policy.path` it is a
 * checkpoint reference to that model folder (what managed and command samplers hand their command).
 */
import type { CampaignView } from '../../../config/kind';
import { writeFileAtomic } from '../../artifacts/atomic-file';
import { CheckpointDescriptor, describeCheckpoint, readDescriptor } from '../../policy/checkpoint-ref';
import type { NoTrainerConfig } from './config';
import type { Trainer } from '../trainer';

export const SERVED_POLICY_FORMAT = 'alignloop-served-policy/1';

const servedModel = (c: CampaignView) => (c.sampler.kind === 'openai' || c.sampler.kind === 'managed' ? (c.sampler.model as string) : null);

export const noTrainer: Trainer<NoTrainerConfig> = {
  checkpointName: 'policy.json',
  writeInitialPolicy: (_t, config, file) => {
    const body: object = config.policy
      ? describeCheckpoint(config.policy.path, { name: config.policy.name, parent: null, iteration: null })
      : { format: SERVED_POLICY_FORMAT, name: 'initial', model: servedModel(config), parent: null, iteration: null };
    return writeFileAtomic(file, JSON.stringify(body) + '\n');
  },
  async train(job) {
    const current = readDescriptor(job.policy);
    // The same model folder, now with this iteration in its lineage.
    const next: object = current
      ? ({ ...current, parent: job.policy.sha256, iteration: job.iteration } satisfies CheckpointDescriptor)
      : { format: SERVED_POLICY_FORMAT, name: 'initial', model: servedModel(job.campaign), parent: job.policy.sha256, iteration: job.iteration };
    return {
      written: writeFileAtomic(job.checkpointFile, JSON.stringify(next) + '\n'),
      extra: {
        trained: false,
        examples: job.feedback?.count ?? 0,
        firstLoss: null,
        lastLoss: null,
        resumedFromEpoch: 0,
        skippedReason: 'trainer.kind: none (feedback files are written for training elsewhere)',
      },
    };
  },
};
