/**
 * trainer.kind: none. alignloop does not train: the policy is whatever the sampler serves, and each
 * iteration still samples, labels and writes feedback files (HALOs, TRL, JSONL) for training
 * elsewhere. The "checkpoint" records that, so lineage stays complete.
 */
import { writeFileAtomic } from '../artifacts/atomic-file';
import type { Trainer } from './trainer';

export const SERVED_POLICY_FORMAT = 'alignloop-served-policy/1';

export const noTrainer: Trainer = {
  checkpointName: 'policy.json',
  writeInitialPolicy: (config, file) =>
    writeFileAtomic(
      file,
      JSON.stringify({
        format: SERVED_POLICY_FORMAT,
        name: 'initial',
        model: config.sampler.kind === 'openai' ? config.sampler.model : null,
        parent: null,
        iteration: null,
      }) + '\n',
    ),
  async train(job) {
    const next = {
      format: SERVED_POLICY_FORMAT,
      name: 'initial',
      model: job.config.sampler.kind === 'openai' ? job.config.sampler.model : null,
      parent: job.policy.sha256,
      iteration: job.iteration,
    };
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
