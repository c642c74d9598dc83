/** Task queues, one per worker role (docs/running.md). No Node imports: workflows use this too. */
export const QUEUES = {
  control: 'alignloop-control',
  sample: 'alignloop-sample',
  score: 'alignloop-score',
  judge: 'alignloop-judge',
  train: 'alignloop-train',
  /** eval.queue: eval: the eval answers sampled and scored apart from training's (sample and score activities). */
  eval: 'alignloop-eval',
} as const;

export type Role = keyof typeof QUEUES;
export const ROLES = Object.keys(QUEUES) as Role[];

/** The queue each campaign activity runs on (for `alignloop status`: which role's workers a stage waits for). */
const ACTIVITY_QUEUES: Record<string, Role> = {
  initPolicy: 'control',
  preparePrompts: 'control',
  buildIterationFeedback: 'control',
  writeIterationManifest: 'control',
  sampleShard: 'sample',
  reapSamplerOrphans: 'sample',
  scoreShard: 'score',
  judgeShard: 'judge',
  submitJudgeBatch: 'judge',
  awaitJudgeBatch: 'judge',
  collectJudgeBatch: 'judge',
  trainPolicy: 'train',
};

export function queueOfActivity(activityType: string): string | null {
  const role = ACTIVITY_QUEUES[activityType];
  return role ? QUEUES[role] : null;
}
