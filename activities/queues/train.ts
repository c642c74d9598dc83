/** Activities of the `alignloop-train` queue: feedback in, the next policy checkpoint out. */
import * as path from 'node:path';
import { FileRef, findComplete, iterationDir, markComplete } from '../artifacts/store';
import { guarded, refOf } from '../durable';
import { trainerFor } from '../trainers';
import type { IterationScope, TrainResult } from '../types';

export type TrainPolicyInput = IterationScope & {
  feedback: FileRef | null;
  emptyReason: string | null;
  policy: FileRef;
  reference: FileRef;
  prompts: FileRef[];
};

export function createTrainActivities() {
  return {
    async trainPolicy(input: TrainPolicyInput): Promise<TrainResult> {
      const { config: c, campaignId, iteration } = input;
      const trainer = await trainerFor(c.trainer);
      const dir = path.join(iterationDir(c.artifacts.root, campaignId, iteration), 'train');
      const checkpointFile = path.join(dir, trainer.checkpointName);
      const job = {
        settings: c.trainer,
        campaign: c,
        artifactsRoot: c.artifacts.root,
        campaignId,
        iteration,
        dir,
        checkpointFile,
        feedback: input.feedback,
        emptyReason: input.emptyReason,
        policy: input.policy,
        reference: input.reference,
        prompts: input.prompts,
      };
      const done = findComplete<Omit<TrainResult, 'checkpoint'>>(checkpointFile);
      if (done) {
        trainer.afterRecorded?.(job); // finishes what a crash right after the record left undone
        return { checkpoint: done.ref, ...done.extra };
      }
      return guarded(async () => {
        const out = await trainer.train(job);
        const ref = refOf(out.written, 1);
        markComplete(ref, out.extra);
        trainer.afterRecorded?.(job);
        return { checkpoint: ref, ...out.extra };
      });
    },
  };
}

export type TrainActivities = ReturnType<typeof createTrainActivities>;
