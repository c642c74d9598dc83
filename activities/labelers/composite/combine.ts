/**
 * One iteration's composite rewards from its members' results (pure): gates, per-iteration normalisation,
 * combination (weighted, min, pairwise vote), length control, and the statistics the manifest records
 * (normalisation, gate outcomes, agreement between every two members, length bias before and after).
 */
import { fitNormaliser, Normalisation, NormStats } from './normalise';
import { fitLine, pearson, round, spearman } from './stats';

export const COMBINE_RULES = ['weighted', 'min', 'vote', 'gate-then-weighted'] as const;
export type CombineRule = (typeof COMBINE_RULES)[number];

/** What one member said about one sample; undefined in a row: the member was not asked (a gate had failed it). */
export interface MemberResult {
  reward: number | null;
  /** label_status: ok, or why it is unlabelled. */
  status: string;
  pass: boolean | null;
}

export interface Row {
  promptId: string;
  /** The output's length in words. */
  length: number;
  members: Record<string, MemberResult | undefined>;
}

export interface MemberRule {
  name: string;
  weight: number;
  normalize: Normalisation;
  gate: boolean;
  /** A gate member without pass/fail verdicts fails a sample whose reward is at or below this. */
  failReward?: number;
}

export type LengthControl = { control: 'none' } | { control: 'penalty'; perWord: number } | { control: 'regress' };

export interface CombineSettings {
  members: MemberRule[];
  combine: CombineRule;
  /** How many of the contributing members must answer; null: all of them. */
  minMembers: number | null;
  gateFailed: 'drop' | 'floor';
  length: LengthControl;
}

export interface RowOutcome {
  reward: number | null;
  /** ok, gate_failed (dropped), member_failed, gate_unlabelled. */
  status: string;
  /** Which member failed and why, for unlabelled rows. */
  error?: string;
  gate: 'pass' | 'fail' | null;
  norms: Record<string, number | null>;
  /** The combined reward before length control. */
  combined: number | null;
}

export interface AgreementStats {
  a: string;
  b: string;
  /** Within-prompt pairs both members order (neither ties). */
  pairs: number;
  agreement: number | null;
  spearman: number | null;
  samples: number;
}

export interface CompositeStats {
  combine: CombineRule;
  members: Record<string, { normalisation: NormStats; weight: number; gate: boolean; asked: number; answered: number; unlabelled: Record<string, number> }>;
  gate: { passed: number; failed: number; unlabelled: number; action: 'drop' | 'floor'; floor: number | null };
  /** Samples no paid member saw because a gate failed them (calls saved per member). */
  notAsked: Record<string, number>;
  agreement: AgreementStats[];
  length: { control: LengthControl['control']; perWord?: number; slope: number | null; corrBefore: number | null; corrAfter: number | null };
  labelled: number;
  unlabelled: Record<string, number>;
}

const isGateFail = (m: MemberRule, r: MemberResult) => r.pass === false || (r.pass === null && r.reward! <= (m.failReward ?? 0));

/** Members whose normalised scores make the combined reward. */
export function contributing(s: CombineSettings): MemberRule[] {
  return s.members.filter((m) => m.weight > 0 && !(m.gate && s.combine === 'gate-then-weighted'));
}

export function combineIteration(rows: Row[], s: CombineSettings): { outcomes: RowOutcome[]; stats: CompositeStats } {
  const normalisers = new Map(
    s.members.map((m) => {
      const values = rows.flatMap((r) => {
        const v = r.members[m.name]?.reward;
        return typeof v === 'number' && Number.isFinite(v) ? [v] : [];
      });
      return [m.name, fitNormaliser(values, m.normalize)] as const;
    }),
  );
  const gates = s.members.filter((m) => m.gate);
  const used = contributing(s);
  const need = s.minMembers ?? used.length;
  const gate = { passed: 0, failed: 0, unlabelled: 0 };

  const outcomes: RowOutcome[] = rows.map((row) => {
    const norms: Record<string, number | null> = {};
    for (const m of s.members) {
      const r = row.members[m.name];
      norms[m.name] = r && r.reward !== null ? normalisers.get(m.name)!.apply(r.reward) : null;
    }
    let gateOutcome: RowOutcome['gate'] = null;
    for (const g of gates) {
      const r = row.members[g.name];
      if (!r) continue; // an earlier gate failed it
      if (r.reward === null) {
        gate.unlabelled++;
        return { reward: null, status: 'gate_unlabelled', error: `${g.name}: ${r.status}`, gate: null, norms, combined: null };
      }
      if (isGateFail(g, r)) {
        gate.failed++;
        return { reward: null, status: 'gate_failed', error: `${g.name} failed it`, gate: 'fail', norms, combined: null };
      }
      gateOutcome = 'pass';
    }
    if (gateOutcome) gate.passed++;
    const answered = used.filter((m) => norms[m.name] !== null);
    if (answered.length < need || answered.length === 0) {
      const failed = used.filter((m) => norms[m.name] === null).map((m) => `${m.name}: ${row.members[m.name]?.status ?? 'not asked'}`);
      return { reward: null, status: 'member_failed', error: failed.join('; '), gate: gateOutcome, norms, combined: null };
    }
    let combined: number;
    if (s.combine === 'min') combined = Math.min(...answered.map((m) => norms[m.name]!));
    else if (s.combine === 'vote')
      combined = 0; // decided per prompt below
    else {
      const w = answered.reduce((a, m) => a + m.weight, 0);
      combined = answered.reduce((a, m) => a + m.weight * norms[m.name]!, 0) / w;
    }
    return { reward: combined, status: 'ok', gate: gateOutcome, norms, combined };
  });

  if (s.combine === 'vote') vote(rows, outcomes, used);
  for (const o of outcomes) if (o.status === 'ok') o.combined = o.reward;

  // Length bias of the combined reward, then its control.
  const labelled = outcomes.map((o, i) => [o, rows[i].length] as const).filter(([o]) => o.status === 'ok');
  const lens = labelled.map(([, l]) => l);
  const corrBefore = pearson(
    lens,
    labelled.map(([o]) => o.reward!),
  );
  let slope: number | null = null;
  if (s.length.control === 'penalty') {
    const per = s.length.perWord;
    for (const [o, l] of labelled) o.reward = o.reward! - per * l;
  } else if (s.length.control === 'regress' && labelled.length > 1) {
    slope = fitLine(
      lens,
      labelled.map(([o]) => o.reward!),
    ).b;
    const meanLen = lens.reduce((a, b) => a + b, 0) / lens.length;
    for (const [o, l] of labelled) o.reward = o.reward! - slope * (l - meanLen);
  }
  const corrAfter = pearson(
    lens,
    labelled.map(([o]) => o.reward!),
  );

  let floor: number | null = null;
  if (s.gateFailed === 'floor' && gate.failed > 0) {
    floor = (labelled.length ? Math.min(...labelled.map(([o]) => o.reward!)) : 0) - 1;
    for (const o of outcomes) if (o.status === 'gate_failed') Object.assign(o, { reward: floor, status: 'ok' });
  }

  const unlabelled: Record<string, number> = {};
  for (const o of outcomes) if (o.reward === null) unlabelled[o.status] = (unlabelled[o.status] ?? 0) + 1;
  const members: CompositeStats['members'] = {};
  const notAsked: Record<string, number> = {};
  for (const m of s.members) {
    const asked = rows.filter((r) => r.members[m.name]);
    const unl: Record<string, number> = {};
    for (const r of asked) if (r.members[m.name]!.reward === null) unl[r.members[m.name]!.status] = (unl[r.members[m.name]!.status] ?? 0) + 1;
    members[m.name] = {
      normalisation: roundStats(normalisers.get(m.name)!.stats),
      weight: m.weight,
      gate: m.gate,
      asked: asked.length,
      answered: asked.length - Object.values(unl).reduce((a, b) => a + b, 0),
      unlabelled: unl,
    };
    if (!m.gate) notAsked[m.name] = rows.length - asked.length;
  }
  return {
    outcomes,
    stats: {
      combine: s.combine,
      members,
      gate: { ...gate, action: s.gateFailed, floor: round(floor) },
      notAsked,
      agreement: agreement(rows, s.members),
      length: {
        control: s.length.control,
        ...(s.length.control === 'penalty' ? { perWord: s.length.perWord } : {}),
        slope: round(slope),
        corrBefore: round(corrBefore),
        corrAfter: round(corrAfter),
      },
      labelled: outcomes.length - Object.values(unlabelled).reduce((a, b) => a + b, 0),
      unlabelled,
    },
  };
}

function roundStats(s: NormStats): NormStats {
  return { ...s, mean: round(s.mean), std: round(s.std), min: round(s.min), max: round(s.max) };
}

function groupsOf(rows: Row[], keep: (i: number) => boolean): number[][] {
  const by = new Map<string, number[]>();
  rows.forEach((r, i) => {
    if (!keep(i)) return;
    const g = by.get(r.promptId);
    if (g) g.push(i);
    else by.set(r.promptId, [i]);
  });
  return [...by.values()];
}

/**
 * Pairwise majority: within a prompt, sample i beats j when the weighted votes of the members that scored
 * both say so; its reward is its share of wins (a tie counts half), so pairs follow the majority.
 */
function vote(rows: Row[], outcomes: RowOutcome[], used: MemberRule[]): void {
  for (const g of groupsOf(rows, (i) => outcomes[i].status === 'ok')) {
    for (const i of g) {
      let wins = 0;
      for (const j of g) {
        if (i === j) continue;
        let v = 0;
        for (const m of used) {
          const a = outcomes[i].norms[m.name];
          const b = outcomes[j].norms[m.name];
          if (a !== null && b !== null) v += m.weight * Math.sign(a - b);
        }
        wins += v > 0 ? 1 : v === 0 ? 0.5 : 0;
      }
      outcomes[i].reward = g.length > 1 ? wins / (g.length - 1) : 0.5;
    }
  }
}

/** For every two members: how often they order a within-prompt pair the same way, and their rank correlation. */
export function agreement(rows: Row[], members: MemberRule[]): AgreementStats[] {
  const out: AgreementStats[] = [];
  const score = (i: number, m: string) => rows[i].members[m]?.reward ?? null;
  for (let x = 0; x < members.length; x++)
    for (let y = x + 1; y < members.length; y++) {
      const a = members[x].name;
      const b = members[y].name;
      const both = rows.map((_, i) => i).filter((i) => score(i, a) !== null && score(i, b) !== null);
      let pairs = 0;
      let agree = 0;
      for (const g of groupsOf(rows, (i) => score(i, a) !== null && score(i, b) !== null))
        for (let p = 0; p < g.length; p++)
          for (let q = p + 1; q < g.length; q++) {
            const da = Math.sign(score(g[p], a)! - score(g[q], a)!);
            const db = Math.sign(score(g[p], b)! - score(g[q], b)!);
            if (da === 0 || db === 0) continue;
            pairs++;
            if (da === db) agree++;
          }
      out.push({
        a,
        b,
        pairs,
        agreement: pairs ? round(agree / pairs) : null,
        spearman: round(
          spearman(
            both.map((i) => score(i, a)!),
            both.map((i) => score(i, b)!),
          ),
        ),
        samples: both.length,
      });
    }
  return out;
}
