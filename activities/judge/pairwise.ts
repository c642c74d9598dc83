/**
 * Pairwise judging, the pure part: which pairs to judge per prompt, in which order(s) to show them,
 * and how verdicts about the shown order map back to the samples. x and y are the pair's samples
 * in pairing order; "xy" shows x as response A. Deterministic: the seed and the sample ids decide.
 */
import { seededRng, shuffleInPlace } from '../feedback/rng';
import type { Winner } from './parse';

export type Presentation = 'xy' | 'yx';
export type PairWinner = 'x' | 'y' | 'tie';

export interface PairingOptions {
  pairing: 'random' | 'all';
  maxPairsPerPrompt?: number;
  swap: 'single' | 'both';
  seed: number;
}

export interface PlannedPair<T> {
  promptId: string;
  x: T;
  y: T;
  presentations: Presentation[];
}

export interface PairPlan<T> {
  pairs: PlannedPair<T>[];
  promptsTooFew: number;
  unpairedOdd: number;
}

/** Groups of one prompt's samples (in input order) -> pairs, each with its presentation order(s). */
export function planPairs<T extends { sampleId: number }>(groups: Map<string, T[]>, o: PairingOptions): PairPlan<T> {
  const plan: PairPlan<T> = { pairs: [], promptsTooFew: 0, unpairedOdd: 0 };
  for (const [promptId, members] of groups) {
    if (members.length < 2) {
      plan.promptsTooFew++;
      continue;
    }
    let pairs: [T, T][] = [];
    if (o.pairing === 'random') {
      const order = shuffleInPlace(members.slice(), seededRng(`${o.seed}:pairs:${promptId}`));
      for (let i = 0; i + 1 < order.length; i += 2) pairs.push([order[i], order[i + 1]]);
      plan.unpairedOdd += order.length % 2;
    } else {
      for (let i = 0; i < members.length; i++) for (let j = i + 1; j < members.length; j++) pairs.push([members[i], members[j]]);
    }
    if (o.maxPairsPerPrompt !== undefined) pairs = pairs.slice(0, o.maxPairsPerPrompt);
    for (const [x, y] of pairs) plan.pairs.push({ promptId, x, y, presentations: presentationsFor(promptId, x.sampleId, y.sampleId, o) });
  }
  return plan;
}

export function presentationsFor(promptId: string, xId: number, yId: number, o: Pick<PairingOptions, 'swap' | 'seed'>): Presentation[] {
  if (o.swap === 'both') return ['xy', 'yx'];
  return [seededRng(`${o.seed}:swap:${promptId}:${xId}:${yId}`).next() < 0.5 ? 'yx' : 'xy'];
}

/** A verdict about the shown order (A = first shown) -> a verdict about x and y. */
export function unswap(p: Presentation, w: Winner): PairWinner {
  if (w === 'tie') return 'tie';
  const first: PairWinner = p === 'xy' ? 'x' : 'y';
  const second: PairWinner = p === 'xy' ? 'y' : 'x';
  return w === 'A' ? first : second;
}

export interface ShownVerdict {
  presented: Presentation;
  winner: Winner;
  scoreA: number | null;
  scoreB: number | null;
}

export interface PairVerdict {
  winner: PairWinner;
  /** Both orders were judged and disagreed (position bias): a tie, never a guess. */
  inconsistent: boolean;
  scores: [number, number] | null;
}

/** One verdict per presentation -> the pair's verdict. Orders that disagree make a tie. */
export function resolvePair(verdicts: ShownVerdict[]): PairVerdict {
  const winners = verdicts.map((v) => unswap(v.presented, v.winner));
  const agree = winners.every((w) => w === winners[0]);
  let scores: [number, number] | null = [0, 0];
  for (const v of verdicts) {
    if (v.scoreA === null || v.scoreB === null || !scores) {
      scores = null;
      continue;
    }
    const [sx, sy] = v.presented === 'xy' ? [v.scoreA, v.scoreB] : [v.scoreB, v.scoreA];
    scores = [scores[0] + sx / verdicts.length, scores[1] + sy / verdicts.length];
  }
  return { winner: agree ? winners[0] : 'tie', inconsistent: !agree, scores };
}
