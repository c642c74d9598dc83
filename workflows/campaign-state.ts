/**
 * The campaign's state machine: what pause, resume, stop, a budget change and a config edit do, and
 * when each is refused. Pure (no Temporal imports): the campaign workflow drives it, its Update
 * validators call the `check*` methods (a refusal throws, and nothing is recorded), and the
 * handlers the matching methods. Tests drive it without a server.
 */
import { ConfigChange, configChanges, describeChange, RefusedChange } from '../config/config-changes';
import type { CampaignConfig, FileRef, IterationSummary, SampledFrom } from '../activities/types';
import type { Gathered } from './gather-learn';
import { failureReason, StageFailure } from './failures';
import type { CampaignState, EvalStatus, BestCheckpoint } from './messages';
import type { EvalSummary, IterationEvalInput } from '../activities/eval/summary';
import { evalDue, EvalPoint, hackingReason, isNewBest, metricOf } from './eval-rules';

/**
 * Carried across continue-as-new: references and the last few iterations' summaries, never data, so
 * its size stays constant however many iterations a campaign runs (every summary is in its
 * iteration's manifest; `alignloop history` reads them there).
 */
export interface CampaignCarry {
  nextIteration: number;
  initial: FileRef | null;
  policy: FileRef | null;
  /** The most recent RECENT_SUMMARIES iterations. */
  summaries: IterationSummary[];
  paused: boolean;
  stopRequested: boolean;
  spentUsd: number;
  budgetUsd: number | null;
  pauseReason: string | null;
  /** Spent by the iteration in flight when the budget ran out (booked again in full when it completes). */
  partialSpentUsd?: number;
  /** The budget stopped an iteration: resuming needs a new budget. */
  budgetBlocked?: boolean;
  /** The failure the campaign is paused on (cleared by resume, which retries the iteration). */
  failure?: StageFailure | null;
  /** Config edits accepted but not yet applied (they apply before the next iteration starts). */
  pendingChanges?: ConfigChange[];
  /**
   * Iterations that overlap (schedule.maxPolicyLag > 0): the next iterations whose sampling started,
   * in order, each with the checkpoint pinned for it and, once sampled and labelled, what it gathered.
   */
  ahead?: AheadIteration[];
  /** eval: where the baseline's answers are, the best checkpoint, the stop rules' memory. */
  eval?: EvalCarry;
}

export interface EvalCarry {
  baselineIteration: number | null;
  best: BestCheckpoint | null;
  sinceBest: number;
  /** The last three evaluations (the hacking guard's trend). */
  recent: EvalPoint[];
  stopReason: string | null;
  /** The hacking guard tripped at the last iteration (nothing left to pause). */
  guardWarning?: string;
}

/** An iteration sampled ahead of training: its checkpoint is pinned at dispatch, so a retry samples from the same one. */
export interface AheadIteration {
  iteration: number;
  policy: FileRef;
  sampledFrom: SampledFrom;
  gathered?: Gathered;
}

/** The lag a config allows (campaigns of earlier versions have no schedule: 0). */
export function maxPolicyLag(config: CampaignConfig): number {
  return (config as { schedule?: { maxPolicyLag?: number } }).schedule?.maxPolicyLag ?? 0;
}

export const RECENT_SUMMARIES = 20;

/** A steering request the campaign refuses: the caller gets the message, the history gets nothing. */
export class SteeringRefused extends Error {
  override name = 'SteeringRefused';
}

export interface ConfigEdit {
  applied: ConfigChange[];
  /** The iteration the changes apply from. */
  fromIteration: number;
}

export class CampaignMachine {
  readonly s: CampaignCarry;
  /** The iteration in flight (training, when iterations overlap), if any. */
  current: number | null = null;
  /** Iterations that overlap: the iteration sampling ahead of `current`, if any. */
  gathering: number | null = null;
  /** A config accepted by applyConfig, used from the next iteration on. */
  private nextConfig: CampaignConfig | null = null;

  constructor(
    readonly campaignId: string,
    public config: CampaignConfig,
    carry?: CampaignCarry,
  ) {
    this.s = carry ?? {
      nextIteration: 0,
      initial: null,
      policy: null,
      summaries: [],
      paused: false,
      stopRequested: false,
      spentUsd: 0,
      budgetUsd: config.budget?.usd ?? null,
      pauseReason: null,
    };
  }

  spent(): number {
    return this.s.spentUsd + (this.s.partialSpentUsd ?? 0);
  }

  state(): CampaignState {
    const { s } = this;
    if (s.nextIteration >= this.config.iterations) return 'completed';
    const idle = this.current === null && this.gathering === null;
    if (s.stopRequested) return idle ? 'stopped' : 'stopping';
    if (s.paused && s.failure && idle) return 'failed-paused';
    if (s.paused) return idle ? 'paused' : 'pausing';
    return 'running';
  }

  private ended(): boolean {
    const st = this.state();
    return st === 'completed' || st === 'stopped' || st === 'stopping';
  }

  /** Pauses when the budget is reached (or at once with `force`: an iteration ran out of it). */
  checkBudget(force = false): void {
    const { s } = this;
    if (s.budgetUsd !== null && (force || this.spent() >= s.budgetUsd)) {
      s.paused = true;
      s.pauseReason = `budget reached: $${this.spent().toFixed(4)} spent of $${s.budgetUsd.toFixed(4)}; raise it with \`alignloop resume ${this.campaignId} --budget USD\``;
    }
  }

  pauseOnFailure(f: StageFailure): void {
    this.s.failure = f;
    this.s.paused = true;
    this.s.pauseReason = failureReason(f, this.campaignId);
  }

  // --- steering: check* throws SteeringRefused (an Update validator), the rest applies ---

  checkPause(): void {
    if (this.ended()) throw new SteeringRefused(`campaign ${this.campaignId} is ${this.state()}: nothing to pause`);
  }
  pause(): void {
    this.s.paused = true;
  }

  checkResume(budgetUsd?: number): void {
    if (this.ended()) throw new SteeringRefused(`campaign ${this.campaignId} is ${this.state()}: nothing to resume`);
    if (budgetUsd !== undefined) this.checkBudgetValue(budgetUsd);
    if (!this.s.paused && budgetUsd === undefined) throw new SteeringRefused(`campaign ${this.campaignId} is ${this.state()}, not paused: nothing to resume`);
    // An iteration stopped by the budget would stop again at once: only a new budget releases it.
    if (this.s.budgetBlocked && budgetUsd === undefined) throw new SteeringRefused(`${this.campaignId} is still paused: ${this.s.pauseReason}`);
  }
  resume(budgetUsd?: number): void {
    const { s } = this;
    if (budgetUsd !== undefined) this.setBudget(budgetUsd);
    // An iteration stopped by the budget would stop again at once: only a new budget releases it.
    if (!s.budgetBlocked) {
      s.paused = false;
      s.pauseReason = null;
      s.failure = null; // the failed iteration is retried; what it finished is kept
      this.checkBudget(); // resuming without enough budget stays paused, with the reason
    }
  }

  checkStop(): void {
    if (this.ended()) throw new SteeringRefused(`campaign ${this.campaignId} is already ${this.state()}`);
  }
  stop(): void {
    this.s.stopRequested = true;
  }

  checkBudgetValue(usd: number): void {
    if (!Number.isFinite(usd) || usd <= 0) throw new SteeringRefused(`a budget must be a positive number of USD, not ${usd}`);
    if (usd <= this.spent()) throw new SteeringRefused(`a budget of $${usd.toFixed(4)} is not above what the campaign has spent ($${this.spent().toFixed(4)})`);
  }
  setBudget(usd: number): void {
    this.s.budgetUsd = usd;
    this.s.budgetBlocked = false;
  }

  /** The changes a config edit would make; refused as a whole when any setting may not change. */
  checkConfig(next: CampaignConfig): ConfigChange[] {
    if (this.ended()) throw new SteeringRefused(`campaign ${this.campaignId} is ${this.state()}: its config no longer changes`);
    const { applied, refused } = configChanges(this.nextConfig ?? this.config, next, { completed: this.s.nextIteration });
    if (refused.length) throw new SteeringRefused(refusal(refused));
    return applied;
  }
  applyConfig(next: CampaignConfig): ConfigEdit {
    const applied = this.checkConfig(next);
    this.nextConfig = next;
    this.s.pendingChanges = [...(this.s.pendingChanges ?? []).filter((c) => !applied.some((a) => a.path === c.path)), ...applied];
    if (next.budget?.usd !== undefined && next.budget.usd !== this.s.budgetUsd && next.budget.usd > this.spent()) this.setBudget(next.budget.usd);
    return { applied, fromIteration: this.s.nextIteration };
  }

  /** Before an iteration starts: the edited config takes over; returns what changed since the last iteration. */
  takePendingConfig(): ConfigChange[] {
    if (this.nextConfig) this.config = this.nextConfig;
    this.nextConfig = null;
    const changes = this.s.pendingChanges ?? [];
    delete this.s.pendingChanges;
    return changes;
  }

  /** The config the next run (after continue-as-new) starts with. */
  configForNextRun(): CampaignConfig {
    return this.nextConfig ?? this.config;
  }

  /** An iteration finished: its summary, checkpoint and cost are booked. */
  completeIteration(summary: IterationSummary, checkpoint: FileRef): void {
    const { s } = this;
    s.partialSpentUsd = 0;
    s.summaries.push(summary);
    if (s.summaries.length > RECENT_SUMMARIES) s.summaries.splice(0, s.summaries.length - RECENT_SUMMARIES);
    s.policy = checkpoint;
    s.nextIteration++;
    s.spentUsd += summary.costUsd;
    this.checkBudget();
    if (summary.eval) this.bookEvaluation(summary, summary.eval);
  }

  /** What an iteration needs to evaluate its checkpoint: nothing when there is no eval or it is not due. */
  evalInput(iteration: number): { eval?: IterationEvalInput } {
    const e = this.config.eval;
    if (!e || !this.s.initial || !evalDue(iteration, e.everyIterations, this.config.iterations)) return {};
    const ev = this.s.eval;
    return {
      eval: {
        initial: this.s.initial,
        baselineIteration: ev?.baselineIteration ?? null,
        best: ev?.best ? { iteration: ev.best.iteration, value: ev.best.value } : null,
        ...(e.baseline === 'best' && ev?.best ? { againstBest: ev.best.iteration } : {}),
      },
    };
  }

  /** The best checkpoint and the stop rules, for `status` (absent without eval). */
  evalStatus(): { evaluation?: EvalStatus } {
    const e = this.config.eval;
    if (!e) return {};
    const ev = this.s.eval;
    return {
      evaluation: {
        bestBy: e.bestBy,
        best: ev?.best ?? null,
        sinceBest: ev?.sinceBest ?? 0,
        stopReason: ev?.stopReason ?? null,
        ...(ev?.guardWarning ? { guardWarning: ev.guardWarning } : {}),
      },
    };
  }

  /** An evaluated iteration: a better best is kept; the stop rule may end the campaign, the hacking guard pause it. */
  private bookEvaluation(summary: IterationSummary, e: EvalSummary): void {
    const { s } = this;
    const ev = (s.eval ??= { baselineIteration: null, best: null, sinceBest: 0, recent: [], stopReason: null });
    if (e.against !== 'best') ev.baselineIteration ??= e.baselineIteration;
    const settings = this.config.eval;
    const by = settings?.bestBy ?? e.best?.by ?? 'winRate';
    const value = metricOf(e, by);
    if (isNewBest(value, by, ev.best, e.against === 'best')) {
      ev.best = {
        iteration: summary.iteration,
        value,
        checkpoint: summary.checkpoint,
        checkpointSha256: summary.checkpointSha256,
        winRate: e.winRate,
        lcWinRate: e.lcWinRate,
        rewardMean: e.rewardMean,
      };
      ev.sinceBest = 0;
    } else ev.sinceBest++;
    ev.recent = [...ev.recent, { iteration: summary.iteration, trainReward: summary.rewardMean, winRate: e.winRate }].slice(-3);
    if (!settings) return;
    const k = settings.stopWhen?.noImprovement;
    if (k !== undefined && ev.sinceBest >= k && !s.stopRequested && s.nextIteration < this.config.iterations) {
      ev.stopReason =
        `eval.stopWhen.noImprovement: ${ev.sinceBest} evaluation(s) without a better ${by} than iteration ${ev.best?.iteration ?? '-'}'s ` +
        `(${ev.best ? ev.best.value.toFixed(4) : 'none'})`;
      s.stopRequested = true;
      return;
    }
    if (settings.hackingGuard) {
      const why = hackingReason(ev.recent, e, settings.maxLengthRatio);
      // After the last iteration there is nothing to pause: the finished campaign keeps the warning.
      if (why && s.nextIteration >= this.config.iterations) ev.guardWarning = `hacking guard (iteration ${summary.iteration}): ${why}`;
      else if (why) {
        s.paused = true;
        s.pauseReason =
          `hacking guard (iteration ${summary.iteration}): ${why}; the best checkpoint is iteration ${ev.best?.iteration ?? '-'}'s ` +
          `(\`alignloop best ${this.campaignId}\`); \`alignloop resume ${this.campaignId}\` goes on, \`alignloop stop ${this.campaignId}\` ends it`;
      }
    }
  }

  /**
   * The iteration to learn next (iterations that overlap): the one sampled ahead for it, or a new
   * one pinned to the newest checkpoint. It becomes the first of `ahead`.
   */
  head(): AheadIteration {
    const { s } = this;
    const ahead = (s.ahead ??= []);
    if (ahead[0]?.iteration !== s.nextIteration) {
      ahead.splice(0, ahead.length, pin(s.nextIteration, s.policy!, s.nextIteration));
    }
    return ahead[0];
  }

  /**
   * The next iteration to sample ahead while `nextIteration` trains, or null: one pinned earlier and
   * not sampled yet (a failed or interrupted try), else a new one pinned to the newest checkpoint
   * (the one `nextIteration` trains from), if the lag bound allows it and steering does not stop it.
   */
  nextAhead(lag: number, mayStartNew: boolean): AheadIteration | null {
    const { s } = this;
    if (s.paused || s.stopRequested) return null;
    const ahead = s.ahead ?? [];
    const pending = ahead.find((a) => a.iteration > s.nextIteration && !a.gathered);
    if (pending) return pending;
    if (!mayStartNew) return null;
    const j = (ahead.length ? ahead[ahead.length - 1].iteration : s.nextIteration) + 1;
    // The newest checkpoint is the one iteration nextIteration trains from (version nextIteration).
    if (j >= this.config.iterations || j - s.nextIteration > lag) return null;
    const a = pin(j, s.policy!, s.nextIteration);
    ahead.push(a);
    s.ahead = ahead;
    return a;
  }

  /** What the judge may still spend: the budget less what is booked and what iterations sampled ahead already spent. */
  budgetLeft(): number | null {
    const { s } = this;
    if (s.budgetUsd === null) return null;
    // Every entry of `ahead` is an iteration not booked yet (learned ones leave it).
    const ahead = (s.ahead ?? []).reduce((sum, x) => sum + (x.gathered?.costUsd ?? 0), 0);
    return s.budgetUsd - s.spentUsd - ahead;
  }

  /** An iteration was learned (iterations that overlap): it leaves `ahead`. */
  learned(summary: IterationSummary, checkpoint: FileRef): void {
    const i = this.s.nextIteration;
    this.s.ahead = (this.s.ahead ?? []).filter((a) => a.iteration > i);
    this.completeIteration(summary, checkpoint);
  }

  /** An iteration ran out of budget: what it spent counts until it runs again. */
  budgetExhausted(spentUsd: number): void {
    this.s.partialSpentUsd = spentUsd;
    this.s.budgetBlocked = true;
    this.checkBudget(true);
  }
}

function pin(iteration: number, policy: FileRef, version: number): AheadIteration {
  return { iteration, policy, sampledFrom: { checkpoint: policy.path, sha256: policy.sha256, version } };
}

function refusal(refused: RefusedChange[]): string {
  return (
    `these settings cannot change mid-campaign: ${refused.map((r) => `${describeChange(r)} (${r.reason})`).join('; ')}; ` +
    'put them back, or start a new campaign with --id NEW_ID'
  );
}
