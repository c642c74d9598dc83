/** The campaign file's schema and type: the common parts (config/schema.ts) with every registered kind. */
import type { z } from 'zod';
import type { CampaignKinds } from '../../config/kind';
import { campaignSchema } from '../../config/schema';
import { LABELER_KINDS, LabelerSchema } from '../labelers';
import { SAMPLER_KINDS, SamplerSchema } from '../samplers';
import { TRAINER_KINDS, TrainerSchema } from '../trainers';

export const CAMPAIGN_KINDS: CampaignKinds = { sampler: SAMPLER_KINDS, labeler: LABELER_KINDS, trainer: TRAINER_KINDS };

export const CampaignSchema = campaignSchema({ sampler: SamplerSchema, labeler: LabelerSchema, trainer: TrainerSchema });

export type CampaignConfig = z.infer<typeof CampaignSchema>;
