/**
 * The campaign's judge spend, shared by every judge worker: what each iteration has spent, and what
 * calls in flight may still spend. A call goes out only if spent + reserved + its worst-case cost fits
 * the budget, so a large iteration stops at the budget instead of overshooting it. Pure.
 */
export interface LedgerState {
  spent: Record<string, number>;
  reserved: { id: string; scope: string; usd: number; until: number }[];
}

export const emptyLedger = (): LedgerState => ({ spent: {}, reserved: [] });

function live(s: LedgerState, now: number): LedgerState {
  return { spent: s.spent, reserved: s.reserved.filter((r) => r.until > now) };
}

export function reserve(
  s0: LedgerState,
  now: number,
  r: { id: string; scope: string; usd: number; until: number },
  limitUsd: number,
): { state: LedgerState; ok: boolean } {
  const s = live(s0, now);
  const committed = (s.spent[r.scope] ?? 0) + s.reserved.filter((x) => x.scope === r.scope).reduce((a, x) => a + x.usd, 0);
  if (committed + r.usd > limitUsd + 1e-12) return { state: s, ok: false };
  return { state: { spent: s.spent, reserved: [...s.reserved, r] }, ok: true };
}

export function settleSpend(s0: LedgerState, now: number, id: string, scope: string, usd: number): LedgerState {
  const s = live(s0, now);
  return { spent: { ...s.spent, [scope]: (s.spent[scope] ?? 0) + usd }, reserved: s.reserved.filter((x) => x.id !== id) };
}
