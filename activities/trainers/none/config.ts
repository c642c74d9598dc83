import { z } from 'zod';
import type { TrainerKind } from '../trainer';

/** No training by alignloop: the policy stays what the sampler serves; each iteration still labels and writes feedback files. */
export const NoTrainerSchema = z.strictObject({
  kind: z.literal('none'),
  method: z.enum(['dpo', 'kto', 'grpo']).default('dpo').describe("What the feedback is for (checked against feedback.type like a real trainer's method)."),
});

export type NoTrainerConfig = z.infer<typeof NoTrainerSchema>;

export const noTrainerKind: TrainerKind<typeof NoTrainerSchema> = {
  schema: NoTrainerSchema,
  load: async () => (await import('./trainer')).noTrainer,
};
