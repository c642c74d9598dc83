/** Settings of the `builtin` trainer: trains the built-in miniature policy (DPO, KTO, GRPO) in-process. */
import { z } from 'zod';
import type { TrainerKind } from '../trainer';

export const BuiltinTrainerSchema = z.strictObject({
  kind: z.literal('builtin'),
  method: z.enum(['dpo', 'kto', 'grpo']),
  beta: z.number().positive().default(0.1).describe('DPO/KTO/GRPO beta (strength of the pull to the reference).'),
  reference: z.enum(['initial', 'previous']).default('initial'),
  learningRate: z.number().positive().default(0.5).describe('Learning rate of the miniature policy.'),
  epochs: z.number().int().positive().default(50).describe("Passes over the iteration's feedback."),
  desirableWeight: z.number().positive().default(1).describe('KTO weights for desirable / undesirable examples.'),
  undesirableWeight: z.number().positive().default(1).describe('KTO weight of undesirable examples.'),
  dims: z.number().int().positive().default(512).describe('Feature dimensions of the built-in log-linear policy (hashed n-grams).'),
});

export type BuiltinTrainerConfig = z.infer<typeof BuiltinTrainerSchema>;

export const builtinTrainerKind: TrainerKind<typeof BuiltinTrainerSchema> = {
  schema: BuiltinTrainerSchema,
  load: async () => (await import('./trainer')).builtinTrainer,
};
