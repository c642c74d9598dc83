/**
 * Settings of the `composite` labeler: several labelers of the other kinds (reward model, reward server,
 * pointwise judge, verifier) whose rewards are gated, normalised per iteration and combined (docs/composite.md).
 */
import { z } from 'zod';
import type { KindDefinition, Problem } from '../../../config/kind';
import { kindUnion } from '../../../config/schema';
import { judgeKind } from '../judge/config';
import type { LabelerKind } from '../labeler';
import { rewardModelKind } from '../reward-model/config';
import { rewardServerKind } from '../reward-server/config';
import { verifierKind } from '../verifier/config';
import { COMBINE_RULES, CombineSettings, contributing } from './combine';
import type { DisagreementRule } from '../../feedback/build';
import { NORMALISATIONS } from './normalise';

/** The kinds a composite's members may be. */
export const MEMBER_KINDS = [rewardModelKind, rewardServerKind, judgeKind, verifierKind] as const;

const MemberSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]*$/, 'use lower-case letters, digits, "_" or "-"')
    .describe("The member's name in the manifest, audit records and artifact folders (e.g. rm, judge, math)."),
  labeler: kindUnion(MEMBER_KINDS).describe('A full labeler block of kind reward-model, reward-server, judge (pointwise, online) or verifier.'),
  weight: z.number().min(0).optional().describe('Its weight in the combination; default 1, and 0 for a gate (a gate only gates unless given a weight).'),
  normalize: z
    .enum(NORMALISATIONS)
    .default('zscore')
    .describe('Per-iteration normalisation before combining: zscore, rank (mid-rank in [0, 1]), minmax or none.'),
  gate: z
    .boolean()
    .default(false)
    .describe('A verifier that fails a sample fails it outright, before the members after it are asked (and paid): see gateFailed.'),
});

export const CompositeLabelerSchema = z.strictObject({
  kind: z.literal('composite'),
  members: z.array(MemberSchema).min(1).describe('The labelers, in order: gates run first, in this order; the others then run side by side.'),
  combine: z
    .enum(COMBINE_RULES)
    .default('weighted')
    .describe(
      "weighted: weighted mean of the normalised scores of the members that answered; min: the lowest; vote: pairwise majority within each prompt (reward = share of the prompt's other samples it beats); gate-then-weighted: weighted, gates excluded from the sum.",
    ),
  minMembers: z
    .number()
    .int()
    .positive()
    .optional()
    .describe(
      'How many of the combined members must answer for a sample to get a reward; default all of them (a member that failed never contributes a number).',
    ),
  gateFailed: z
    .enum(['drop', 'floor'])
    .default('drop')
    .describe("A sample a gate failed: drop (unlabelled, label_status gate_failed) or floor (reward = the iteration's lowest reward - 1)."),
  disagreement: z
    .strictObject({
      drop: z
        .boolean()
        .default(false)
        .describe('Pairwise feedback: do not train on a pair the members order differently (counted by the members that reversed it).'),
      minAgreement: z
        .number()
        .min(0)
        .max(1)
        .default(0.5)
        .describe('Keep a pair when at least this share of the combined members that ordered it (no tie) agree with its order.'),
    })
    .optional()
    .describe('What to do with pairs the members disagree on; agreement is measured either way.'),
  length: z
    .discriminatedUnion('control', [
      z.strictObject({ control: z.literal('none') }),
      z.strictObject({
        control: z.literal('penalty'),
        perWord: z.number().positive().describe('Subtracted from the combined (normalised) reward per word of the output.'),
      }),
      z.strictObject({ control: z.literal('regress') }),
    ])
    .default({ control: 'none' })
    .describe(
      'Length control of the combined reward: none (its length correlation is still measured), penalty (perWord), or regress (the residual of a per-iteration least-squares fit of reward on length, plus the mean).',
    ),
});

export type CompositeConfig = z.infer<typeof CompositeLabelerSchema>;
export type MemberConfig = CompositeConfig['members'][number];

const kindOfMember = (m: MemberConfig) => MEMBER_KINDS.find((k) => k.schema.shape.kind.value === m.labeler.kind)! as unknown as KindDefinition;

/** The member weight as combined: given, or 1 (0 for a gate). */
export const memberWeight = (m: MemberConfig) => m.weight ?? (m.gate ? 0 : 1);

/** What combineIteration needs of the settings. */
export function combineSettings(l: CompositeConfig): CombineSettings {
  return {
    members: l.members.map((m) => ({
      name: m.name,
      weight: memberWeight(m),
      normalize: m.normalize,
      gate: m.gate,
      ...(m.labeler.kind === 'verifier' ? { failReward: m.labeler.failReward } : {}),
    })),
    combine: l.combine,
    minMembers: l.minMembers ?? null,
    gateFailed: l.gateFailed,
    length: l.length,
  };
}

/** The feedback stage's disagreement rule, when pairs the members order differently are dropped. */
export function disagreementRule(l: CompositeConfig): DisagreementRule | undefined {
  if (!l.disagreement?.drop) return undefined;
  return { minAgreement: l.disagreement.minAgreement, members: contributing(combineSettings(l)).map((m) => m.name) };
}

/** A member's problems reported at its place in the campaign file. */
function at(i: number, p: Problem): Problem {
  return p.path[0] === 'labeler' ? { ...p, path: ['labeler', 'members', i, 'labeler', ...p.path.slice(1)] } : p;
}

export const compositeKind: LabelerKind<typeof CompositeLabelerSchema> = {
  schema: CompositeLabelerSchema,
  queue: 'score',
  resolvePaths(l, base) {
    for (const m of l.members) kindOfMember(m).resolvePaths?.(m.labeler, base);
  },
  problems(l, c, raw) {
    const out: Problem[] = [];
    const rawMembers = (raw?.members ?? []) as { labeler?: Record<string, unknown> }[];
    l.members.forEach((m, i) => {
      const here = ['labeler', 'members', i];
      for (const p of kindOfMember(m).problems?.(m.labeler, { ...c, labeler: m.labeler }, rawMembers[i]?.labeler) ?? []) out.push(at(i, p));
      if (l.members.findIndex((o) => o.name === m.name) !== i)
        out.push({ path: [...here, 'name'], message: `a second member named ${m.name}: names must differ` });
      if (m.gate && m.labeler.kind !== 'verifier')
        out.push({ path: [...here, 'gate'], message: `only a verifier can gate (it passes or fails samples); ${m.name} is a ${m.labeler.kind}` });
      if (m.labeler.kind === 'judge' && m.labeler.mode === 'pairwise')
        out.push({ path: [...here, 'labeler', 'mode'], message: 'a composite combines rewards per sample: a judge member must be mode: pointwise' });
      if (m.labeler.kind === 'judge' && m.labeler.batch.enabled)
        out.push({ path: [...here, 'labeler', 'batch', 'enabled'], message: 'a judge member is judged online: remove batch.enabled' });
    });
    if (l.members.filter((m) => m.labeler.kind === 'reward-model').length > 1)
      out.push({
        path: ['labeler', 'members'],
        message: 'one reward-model member at most (a campaign records one reward model identity); serve another with kind: reward-server',
      });
    const used = contributing(combineSettings(l));
    if (used.length === 0) out.push({ path: ['labeler', 'members'], message: 'no member contributes a reward: give a non-gate member (or a gate a weight)' });
    if (l.minMembers !== undefined && l.minMembers > used.length)
      out.push({ path: ['labeler', 'minMembers'], message: `${l.minMembers} members must answer, but only ${used.length} contribute a reward` });
    if (l.disagreement?.drop && c.feedback.type !== 'pairwise')
      out.push({ path: ['labeler', 'disagreement', 'drop'], message: `drops pairs: it needs feedback.type pairwise, not ${c.feedback.type}` });
    if (l.combine === 'gate-then-weighted' && !l.members.some((m) => m.gate))
      out.push({ path: ['labeler', 'combine'], message: 'gate-then-weighted needs a member with gate: true' });
    return out;
  },
  async preflight(l, c, o) {
    const out: string[] = [];
    for (const m of l.members)
      out.push(...((await kindOfMember(m).preflight?.(m.labeler, { ...c, labeler: m.labeler }, o)) ?? []).map((p) => `members.${m.name}: ${p}`));
    return out;
  },
  load: async () => {
    throw new Error('a composite labeler is labeled member by member (labelMemberShard), never as one shard labeler');
  },
};
