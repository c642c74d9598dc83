/** Task queues (architecture.md "Task queues and workers"). No Node imports: workflows use this too. */
export const QUEUES = {
  control: 'alignloop-control',
  sample: 'alignloop-sample',
  score: 'alignloop-score',
  judge: 'alignloop-judge',
  train: 'alignloop-train',
} as const;

export type Role = keyof typeof QUEUES;
export const ROLES = Object.keys(QUEUES) as Role[];
