/** Trainer kinds (campaign file `trainer.kind`): adding one is a folder `<kind>/` (config.ts: settings and checks; trainer.ts) and one line here. */
import { kindNamed } from '../../config/kind';
import { kindUnion } from '../../config/schema';
import { builtinTrainerKind } from './builtin/config';
import { commandTrainerKind } from './command/config';
import { noTrainerKind } from './none/config';
import type { Trainer, TrainerKind } from './trainer';

export const TRAINER_KINDS = [builtinTrainerKind, noTrainerKind, commandTrainerKind] as const;

export const TrainerSchema = kindUnion(TRAINER_KINDS);

export async function trainerFor<S extends { kind: string }>(settings: S): Promise<Trainer<S>> {
  return (await kindNamed(TRAINER_KINDS as readonly TrainerKind[], 'trainer', settings.kind).load()) as Trainer<S>;
}
