/** The shared spend ledger (budget.ts) in a locked file on the campaign's artifact storage. */
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { emptyLedger, LedgerState, reserve, settleSpend } from './budget';
import { LockedJsonFile } from '../openai/locked-json';

export interface BudgetScope {
  /** The folder of the ledger (one per campaign). */
  dir: string;
  /** What the spend is booked to, e.g. "iter-3". */
  scope: string;
  /** What this scope may spend in all; null = no budget, spend is only recorded. */
  limitUsd: number | null;
}

export class BudgetLedger {
  private readonly state: LockedJsonFile<LedgerState>;

  constructor(readonly b: BudgetScope) {
    this.state = new LockedJsonFile(path.join(b.dir, 'budget.json'), emptyLedger);
  }

  /** A reservation id, or null when the call would go over the budget. */
  async reserve(usd: number, leaseMs: number): Promise<string | null> {
    const id = randomBytes(6).toString('hex');
    const limit = this.b.limitUsd ?? Infinity;
    const ok = await this.state.update((s, now) => {
      const r = reserve(s, now, { id, scope: this.b.scope, usd, until: now + leaseMs }, limit);
      return { state: r.state, value: r.ok };
    });
    return ok ? id : null;
  }

  async settle(id: string, usd: number): Promise<void> {
    await this.state.update((s, now) => ({ state: settleSpend(s, now, id, this.b.scope, usd), value: undefined }));
  }

  spent(): number {
    return this.state.read().spent[this.b.scope] ?? 0;
  }

  /** Books spend that had no reservation (a batch's results). */
  book(usd: number): Promise<void> {
    return this.settle('', usd);
  }
}
