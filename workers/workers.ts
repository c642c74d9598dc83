/** Role workers: one Temporal Worker per task queue, all in one process when several roles are asked for. */
import { NativeConnection, Worker } from '@temporalio/worker';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { guardCampaignFolder } from '../activities/campaign-folder-guard';
import { createControlActivities } from '../activities/queues/control';
import { createEvalActivities } from '../activities/queues/eval';
import { createJudgeActivities, createScoreActivities } from '../activities/queues/label';
import { createSampleActivities, createSampleProcessActivities, SAMPLE_PROCESS_QUEUE } from '../activities/queues/sample';
import { managedServers } from '../activities/samplers/managed/sampler';
import { createTrainActivities } from '../activities/queues/train';
import { closeCachedSessions } from '../activities/score/ort-session';
import { withArtifactStore } from '../activities/store/with-store';
import { trustedInputInterceptor } from '../activities/trusted-input';
import { QUEUES, Role } from '../config/queues';

/** One shard scoring, the next one prefetched (see WorkerOptions.scoreSlots). */
export const DEFAULT_SCORE_SLOTS = 2;

export const WORKFLOW_BUNDLE = path.resolve(__dirname, '..', 'workflow-bundle.js');

function workflowSource(): { workflowBundle: { codePath: string } } | { workflowsPath: string } {
  // Production workers use the bundle `npm run build` writes; bundling at start-up takes ~10 s.
  if (fs.existsSync(WORKFLOW_BUNDLE)) return { workflowBundle: { codePath: WORKFLOW_BUNDLE } };
  return { workflowsPath: require.resolve('../workflows') };
}

/** Each queue's worker registers that queue's activities only. */
const ROLE_ACTIVITIES: Record<Role, () => object> = {
  control: () => ({ ...createControlActivities(), ...createEvalActivities() }),
  sample: createSampleActivities,
  score: createScoreActivities,
  judge: createJudgeActivities,
  train: createTrainActivities,
  eval: () => ({ ...createSampleActivities(), ...createScoreActivities() }),
};

const ROLE_SETTINGS: Record<Role, { maxConcurrentActivityTaskExecutions: number; shutdownGraceTime?: number }> = {
  control: { maxConcurrentActivityTaskExecutions: 8 },
  sample: { maxConcurrentActivityTaskExecutions: 4 },
  score: { maxConcurrentActivityTaskExecutions: DEFAULT_SCORE_SLOTS },
  judge: { maxConcurrentActivityTaskExecutions: 4 },
  train: { maxConcurrentActivityTaskExecutions: 1, shutdownGraceTime: 30_000 },
  eval: { maxConcurrentActivityTaskExecutions: 2 },
};

export interface WorkerOptions {
  /**
   * Scoring shards a score worker runs at once. They share the process's one ORT session (one model
   * in GPU memory; its batches queue on one inference thread), so a second slot is a prefetch: the
   * next shard is read and tokenized while the current one is scored, and no poll round trip sits
   * between two shards.
   */
  scoreSlots?: number;
}

export async function createWorkers(connection: NativeConnection, namespace: string, roles: Role[], opts: WorkerOptions = {}): Promise<Worker[]> {
  const workers: Worker[] = [];
  for (const role of roles) {
    const settings = role === 'score' && opts.scoreSlots !== undefined ? { maxConcurrentActivityTaskExecutions: opts.scoreSlots } : ROLE_SETTINGS[role];
    workers.push(
      await Worker.create({
        connection,
        namespace,
        taskQueue: QUEUES[role],
        // Store-backed campaigns run on this host's mirror; the folder guard then reads the pulled identity.
        activities: withArtifactStore(guardCampaignFolder(ROLE_ACTIVITIES[role]()), role),
        interceptors: { activity: [trustedInputInterceptor] },
        // Heartbeat details (a trainer's step and loss) reach the server every 2 s, not every 0.8 x heartbeat timeout.
        maxHeartbeatThrottleInterval: '2s',
        ...(role === 'control' ? workflowSource() : {}),
        ...settings,
      }),
    );
    if (role === 'sample') {
      // Only this process can stop the inference server it started (sampler.kind: managed).
      workers.push(
        await Worker.create({
          connection,
          namespace,
          taskQueue: SAMPLE_PROCESS_QUEUE,
          activities: createSampleProcessActivities(),
          interceptors: { activity: [trustedInputInterceptor] },
          maxConcurrentActivityTaskExecutions: 2,
        }),
      );
    }
  }
  return workers;
}

/** Runs the workers until `stop` resolves (or they fail), then shuts them down cleanly. */
export async function runWorkers(workers: Worker[], stop?: Promise<unknown>): Promise<void> {
  const running = Promise.all(workers.map((w) => w.run()));
  if (stop) {
    void stop.then(() => workers.forEach((w) => w.getState() === 'RUNNING' && w.shutdown()));
  }
  try {
    await running;
  } finally {
    await Promise.all([closeCachedSessions(), managedServers.stopAll()]);
  }
}
