/** Trainer kinds (campaign file `trainer.kind`). */
import type { CampaignConfig } from '../../config/schema';
import { builtinTrainer } from './builtin';
import { commandTrainer } from './command';
import { noTrainer } from './none';
import type { Trainer } from './trainer';

const TRAINERS: Record<CampaignConfig['trainer']['kind'], Trainer> = {
  builtin: builtinTrainer,
  none: noTrainer,
  command: commandTrainer,
};

export function trainerFor(kind: CampaignConfig['trainer']['kind']): Trainer {
  return TRAINERS[kind];
}
