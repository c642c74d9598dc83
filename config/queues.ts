/** Task queues, one per worker role (README "How a campaign runs"). No Node imports: workflows use this too. */
export const QUEUES = {
  control: 'alignloop-control',
  sample: 'alignloop-sample',
  score: 'alignloop-score',
  judge: 'alignloop-judge',
  train: 'alignloop-train',
} as const;

export type Role = keyof typeof QUEUES;
export const ROLES = Object.keys(QUEUES) as Role[];
