/**
 * The shared spend ledger (budget.ts) in a locked file on the campaign's artifact storage, fsync'd on
 * every update. A ledger that cannot be read is never taken for $0 spent: nothing is spent until it
 * is restored (its previous version is kept beside it as budget.json.prev).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ArtifactError } from '../../config/errors';
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

const isLedger = (v: unknown): boolean => {
  const l = v as Partial<LedgerState> | null;
  return (
    typeof l === 'object' &&
    l !== null &&
    typeof l.spent === 'object' &&
    l.spent !== null &&
    Object.values(l.spent).every((x) => typeof x === 'number' && Number.isFinite(x)) &&
    Array.isArray(l.reserved)
  );
};

function unreadableMessage(file: string, why: string): string {
  const prev = `${file}.prev`;
  const restore = fs.existsSync(prev)
    ? `restore it: cp ${prev} ${file} (the ledger before its last update; add that update's spend by hand if you know it), or from a backup`
    : `restore it from a backup, or write what was spent per iteration as {"spent": {"iter-0": 1.23}, "reserved": []} (the iterations' manifests show their judge cost)`;
  return `the judge budget ledger ${file} cannot be read (${why}): it holds what this campaign has spent, so no judge call is made until it is restored; ${restore}, then resume`;
}

export class BudgetLedger {
  private readonly state: LockedJsonFile<LedgerState>;

  constructor(readonly b: BudgetScope) {
    const file = path.join(b.dir, 'budget.json');
    this.state = new LockedJsonFile(file, emptyLedger, { durable: { valid: isLedger, unreadable: (why) => new ArtifactError(unreadableMessage(file, why)) } });
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
