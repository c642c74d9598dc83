/**
 * Workers do not trust what arrives from Temporal. Anyone who can start workflows on the namespace
 * can hand an activity any input, bypassing `alignloop validate`/`start`: before an activity runs,
 * its campaign id is held to the id rule (no `../` outside the artifacts root) and its campaign
 * config is parsed again with the campaign schema and its cross-field rules. Anything else is
 * refused, never retried.
 */
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, ActivityInterceptorsFactory, Next } from '@temporalio/worker';
import * as path from 'node:path';
import { campaignIdProblem } from '../config/campaign-id';
import { ConfigError } from '../config/errors';
import { campaignRuleProblems, trainerJudgement } from '../config/load';
import { CAMPAIGN_KINDS, CampaignSchema } from './campaign/schema';
import { isS3Root } from '../config/store-location';

/** What is wrong with one activity argument (empty when nothing is). */
export function inputProblems(arg: unknown): string[] {
  if (arg === null || typeof arg !== 'object') return [];
  const a = arg as { campaignId?: unknown; config?: unknown };
  const out: string[] = [];
  if ('campaignId' in a) {
    const p = campaignIdProblem(a.campaignId);
    if (p) out.push(p);
  }
  if ('config' in a) {
    const parsed = CampaignSchema.safeParse(a.config);
    if (!parsed.success) {
      out.push(...parsed.error.issues.slice(0, 5).map((i) => `config.${i.path.join('.')}: ${i.message}`));
    } else {
      // The rules between the parts (not the kinds' file checks: a worker need not hold every file the campaign names).
      out.push(...campaignRuleProblems(parsed.data, trainerJudgement(CAMPAIGN_KINDS, parsed.data)).map((p) => `config.${p.path.join('.')}: ${p.message}`));
      if (!isS3Root(parsed.data.artifacts.root) && !path.isAbsolute(parsed.data.artifacts.root))
        out.push('config.artifacts.root: must be an absolute path (`alignloop start` resolves it)');
    }
  }
  return out;
}

export function checkActivityInput(activity: string, args: unknown[]): void {
  const problems = args.flatMap(inputProblems);
  if (problems.length) {
    throw new ConfigError(`the input of activity ${activity}`, [
      ...problems,
      'this campaign was not started by `alignloop start`/`run` from a valid file; nothing ran (see docs/many-hosts.md, "Who can run what")',
    ]);
  }
}

class TrustedInput implements ActivityInboundCallsInterceptor {
  constructor(private readonly activity: string) {}
  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    checkActivityInput(this.activity, input.args);
    return next(input);
  }
}

export const trustedInputInterceptor: ActivityInterceptorsFactory = (ctx) => ({ inbound: new TrustedInput(ctx.info.activityType) });
