/**
 * LLM judging of a samples file, pointwise (a rating per sample) or pairwise (a verdict per pair of
 * one prompt's samples). Plans the requests, buys what the cache lacks (online, or through the Batch
 * API via batch.ts), and writes the judged file atomically. A failure is never a score or a label.
 */
import * as path from 'node:path';
import { writeFileAtomic, WrittenFile } from '../artifacts/atomic-file';
import type { Turn } from '../feedback/scored-samples';
import { promptId } from '../prompts';
import { readSampleRecords } from '../score/score-file';
import { responseText } from '../score/scorer';
import { BudgetLedger, BudgetScope } from './budget-ledger';
import { judgementKey, JudgementCache } from './cache';
import { decodingOf, JudgeConfig } from './config';
import { CallStats, JudgeCaller, JudgeUnit, Outcome } from './judge-caller';
import { PairPlan, planPairs, Presentation, resolvePair } from './pairwise';
import { sharedLimiter } from '../openai/limits';
import { hasDelimiters, JudgeTemplate, loadTemplate, neutraliseDelimiters, renderPairwise, renderPointwise } from './template';
import { JudgeBudgetExhausted, JudgeSystemicError } from '../../config/errors';

export interface JudgeRunOptions {
  config: JudgeConfig;
  apiKey: string;
  cacheDir: string;
  limiterDir: string;
  /** Where spend is booked and what it may reach; absent: no budget. */
  budget?: BudgetScope;
  /** How the user raises the budget (campaigns: `alignloop resume ID --budget USD`). */
  budgetHint?: string;
  onProgress?: (p: { done: number; items: number }) => void | Promise<void>;
  /** Batch mode's last step: use only cached judgements; a miss is unlabelled with the reason given. */
  cacheOnly?: (unit: JudgeUnit) => string;
}

export interface PairStats {
  pairs: number;
  decided: number;
  ties: number;
  inconsistent: number;
  prompts_too_few: number;
  unpaired_odd: number;
  /** Length bias check: mean characters of winners and losers, and how often the longer one won. */
  lengths: { winner_mean_chars: number | null; loser_mean_chars: number | null; longer_won_share: number | null };
}

export interface JudgeFileResult extends WrittenFile, CallStats {
  mode: 'pointwise' | 'pairwise';
  /** Samples (pointwise) or pairs (pairwise). */
  items: number;
  samples: number;
  labelled: number;
  unlabelled: Record<string, number>;
  pairStats: PairStats | null;
  templateSha256: string;
  /** Samples whose text held the template's own delimiters (neutralised before judging). */
  delimiterSamples: number;
  totalMs: number;
}

interface Sample {
  record: Record<string, unknown>;
  promptId: string;
  sampleId: number;
  prompt: Turn[];
  text: string;
}

export interface JudgePlan {
  config: JudgeConfig;
  template: JudgeTemplate;
  samples: Sample[];
  /** pointwise: one unit per sample. pairwise: one per (pair, presentation), in pair order. */
  units: JudgeUnit[];
  pairs: PairPlan<Sample> | null;
  delimiterSamples: number;
}

export async function planJudging(inPath: string, c: JudgeConfig): Promise<JudgePlan> {
  const records = await readSampleRecords(inPath);
  const template = loadTemplate(c.template, c.mode);
  const decoding = decodingOf(c);
  const perPrompt = new Map<string, Sample[]>();
  const samples = records.map((r): Sample => {
    const prompt = r.prompt as Turn[];
    const pid = typeof r.prompt_id === 'string' ? r.prompt_id : promptId(prompt);
    let group = perPrompt.get(pid);
    if (!group) perPrompt.set(pid, (group = []));
    const s = { record: r, promptId: pid, sampleId: typeof r.sample_id === 'number' ? r.sample_id : group.length, prompt, text: responseText(r.output)! };
    group.push(s);
    return s;
  });
  const delimiterSamples = samples.filter((s) => hasDelimiters(s.text, template.delimiters)).length;
  // The cache key holds the text as the judge sees it, so a judgement bought before neutralising is not reused.
  const seen = (text: string) => neutraliseDelimiters(text, template.delimiters);
  if (c.mode === 'pointwise') {
    const units = samples.map((s): JudgeUnit => ({
      kind: 'pointwise',
      key: judgementKey({
        baseURL: c.baseURL,
        model: c.model,
        structured: c.structured,
        templateSha256: template.sha256,
        decoding,
        prompt: s.prompt,
        response: seen(s.text),
        order: 'pointwise',
      }),
      content: renderPointwise(template, s.prompt, s.text, c.scale),
    }));
    return { config: c, template, samples, units, pairs: null, delimiterSamples };
  }
  const pairs = planPairs(perPrompt, c);
  const units = pairs.pairs.flatMap((p) =>
    p.presentations.map((o): JudgeUnit => {
      const [a, b] = o === 'xy' ? [p.x.text, p.y.text] : [p.y.text, p.x.text];
      return {
        kind: 'pairwise',
        key: judgementKey({
          baseURL: c.baseURL,
          model: c.model,
          structured: c.structured,
          templateSha256: template.sha256,
          decoding,
          prompt: p.x.prompt,
          response: [seen(a), seen(b)],
          order: 'pairwise',
        }),
        content: renderPairwise(template, p.x.prompt, a, b, c.scale),
      };
    }),
  );
  return { config: c, template, samples, units, pairs, delimiterSamples };
}

export async function judgeFile(inPath: string, outPath: string, o: JudgeRunOptions): Promise<JudgeFileResult> {
  return judgePlanned(await planJudging(inPath, o.config), outPath, o);
}

/** Judges a planned file; `cache` (closed at the end) may be one the caller has already filled. */
export async function judgePlanned(plan: JudgePlan, outPath: string, o: JudgeRunOptions, cache = new JudgementCache(o.cacheDir)): Promise<JudgeFileResult> {
  const t0 = performance.now();
  const c = o.config;
  const limiter = sharedLimiter(o.limiterDir, c.limits, c.timeoutSeconds);

  const ledger = o.budget ? new BudgetLedger(o.budget) : null;
  const caller = new JudgeCaller(c, o.apiKey, cache, limiter, ledger);

  const outcomes: Outcome[] = new Array(plan.units.length);
  let next = 0;
  let done = 0;
  const judgeOne = async (u: JudgeUnit): Promise<Outcome> => {
    if (!o.cacheOnly) return caller.judge(u);
    return caller.lookup(u) ?? { entry: null, failure: o.cacheOnly(u), cached: false };
  };
  const workers = Array.from({ length: Math.min(c.limits.maxInFlight, plan.units.length) }, async () => {
    while (next < plan.units.length) {
      const i = next++;
      outcomes[i] = await judgeOne(plan.units[i]);
      done++;
      await o.onProgress?.({ done, items: plan.units.length });
    }
  });
  try {
    await Promise.all(workers);
  } finally {
    cache.close();
    await limiter.flush().catch(() => undefined);
  }

  const short = outcomes.filter((oc) => oc.failure === 'budget_exhausted').length;
  if (short > 0) {
    const spent = ledger?.spent() ?? caller.stats.costUsd;
    throw new JudgeBudgetExhausted(
      `the judge budget is spent: ${short} of ${plan.units.length} judgements not bought ($${spent.toFixed(4)} spent); ` +
        `${o.budgetHint ?? 'raise it with `alignloop resume ID --budget USD`'} — judgements already bought are kept and not bought again`,
      spent,
    );
  }

  const assembled = plan.pairs ? assemblePairwise(plan, outcomes) : assemblePointwise(plan, outcomes);
  const written = writeFileAtomic(outPath, assembled.lines);
  const s: CallStats = caller.stats;
  const result: JudgeFileResult = {
    ...written,
    mode: c.mode,
    items: assembled.items,
    samples: plan.samples.length,
    labelled: assembled.labelled,
    unlabelled: assembled.unlabelled,
    pairStats: assembled.pairStats,
    ...s,
    templateSha256: plan.template.sha256,
    delimiterSamples: plan.delimiterSamples,
    totalMs: performance.now() - t0,
  };
  const failed = Object.values(assembled.unlabelled).reduce((a, b) => a + b, 0);
  const share = assembled.items ? failed / assembled.items : 0;
  if (share > c.maxUnlabelledShare) {
    throw new JudgeSystemicError(
      `${path.basename(outPath)}: ${(share * 100).toFixed(0)}% of ${assembled.items} ${c.mode === 'pairwise' ? 'pairs' : 'items'} are unlabelled ` +
        `(${Object.entries(assembled.unlabelled)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')}), over the limit of ${(c.maxUnlabelledShare * 100).toFixed(0)}%: ` +
        'something systemic is wrong with the judge (output kept for audit)',
    );
  }
  return result;
}

interface Assembled {
  lines: string[];
  items: number;
  labelled: number;
  unlabelled: Record<string, number>;
  pairStats: PairStats | null;
}

function judgeInfo(plan: JudgePlan, ocs: Outcome[]) {
  return {
    model: plan.config.model,
    template_sha256: plan.template.sha256,
    cached: ocs.length === 1 ? ocs[0].cached : ocs.map((x) => x.cached),
    prompt_tokens: ocs.reduce((a, x) => a + (x.entry?.promptTokens ?? 0), 0),
    completion_tokens: ocs.reduce((a, x) => a + (x.entry?.completionTokens ?? 0), 0),
    ...(ocs.some((x) => x.entry?.batch) ? { batch: true } : {}),
  };
}

function assemblePointwise(plan: JudgePlan, outcomes: Outcome[]): Assembled {
  let labelled = 0;
  const unlabelled: Record<string, number> = {};
  const lines = plan.samples.map((s, i) => {
    const oc = outcomes[i];
    const status = oc.entry ? oc.entry.status : oc.failure!;
    const reward = oc.entry && oc.entry.status === 'ok' ? (oc.entry.score ?? null) : null;
    if (reward === null) unlabelled[status] = (unlabelled[status] ?? 0) + 1;
    else labelled++;
    const rec: Record<string, unknown> = { ...s.record, reward, label_status: status, judge: judgeInfo(plan, [oc]) };
    if (reward === null && oc.entry) rec.judge_raw = oc.entry.raw; // kept for audit
    return JSON.stringify(rec) + '\n';
  });
  return { lines, items: plan.samples.length, labelled, unlabelled, pairStats: null };
}

function assemblePairwise(plan: JudgePlan, outcomes: Outcome[]): Assembled {
  const pp = plan.pairs!;
  const unlabelled: Record<string, number> = {};
  const st: PairStats = {
    pairs: pp.pairs.length,
    decided: 0,
    ties: 0,
    inconsistent: 0,
    prompts_too_few: pp.promptsTooFew,
    unpaired_odd: pp.unpairedOdd,
    lengths: { winner_mean_chars: null, loser_mean_chars: null, longer_won_share: null },
  };
  let winChars = 0,
    loseChars = 0,
    longerWon = 0,
    unequalLengths = 0;
  let u = 0;
  const lines = pp.pairs.map((p) => {
    const ocs = outcomes.slice(u, u + p.presentations.length);
    u += p.presentations.length;
    const failed = ocs.find((x) => !x.entry || x.entry.status !== 'ok');
    const rec: Record<string, unknown> = {
      prompt_id: p.promptId,
      prompt: p.x.prompt,
      sample_ids: [p.x.sampleId, p.y.sampleId],
      outputs: [p.x.record.output, p.y.record.output],
      iteration: p.x.record.iteration ?? null,
      presented: p.presentations,
      verdicts: ocs.map((x) => x.entry?.winner ?? null),
    };
    if (failed) {
      // One order failed: the pair is unlabelled, never decided from half the evidence.
      const status = failed.entry ? failed.entry.status : failed.failure!;
      unlabelled[status] = (unlabelled[status] ?? 0) + 1;
      Object.assign(rec, { winner: null, label_status: status, scores: null, judge: judgeInfo(plan, ocs), judge_raw: ocs.map((x) => x.entry?.raw ?? null) });
      return JSON.stringify(rec) + '\n';
    }
    const v = resolvePair(
      ocs.map((x, k) => ({
        presented: p.presentations[k] as Presentation,
        winner: x.entry!.winner!,
        scoreA: x.entry!.scoreA ?? null,
        scoreB: x.entry!.scoreB ?? null,
      })),
    );
    let status = 'ok';
    if (v.winner === 'tie') {
      status = v.inconsistent ? 'inconsistent' : 'tie';
      if (v.inconsistent) st.inconsistent++;
      else st.ties++;
    } else {
      st.decided++;
      const [w, l] = v.winner === 'x' ? [p.x.text, p.y.text] : [p.y.text, p.x.text];
      winChars += w.length;
      loseChars += l.length;
      if (w.length !== l.length) {
        unequalLengths++;
        if (w.length > l.length) longerWon++;
      }
    }
    Object.assign(rec, { winner: v.winner, label_status: status, scores: v.scores, judge: judgeInfo(plan, ocs) });
    return JSON.stringify(rec) + '\n';
  });
  if (st.decided)
    st.lengths = {
      winner_mean_chars: winChars / st.decided,
      loser_mean_chars: loseChars / st.decided,
      longer_won_share: unequalLengths ? longerWon / unequalLengths : null,
    };
  return { lines, items: pp.pairs.length, labelled: st.decided, unlabelled, pairStats: st };
}
