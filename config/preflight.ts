/**
 * Checks a campaign before anything starts, beyond the file's shape: every prompt line parses, the
 * reward model opens in ONNX Runtime with its tokenizer, the judge endpoint answers. Problems are
 * errors listed like the campaign file's own (so a campaign id is never used up by a typo); an
 * endpoint that does not answer is only a warning, since campaigns may be planned offline.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadPrompts } from '../activities/prompts';
import { PRESETS } from '../activities/trainers/presets';
import { ConfigError, InputError } from './errors';
import type { CampaignConfig } from './schema';

export interface PreflightOptions {
  warn: (line: string) => void;
  /** How long to wait for an endpoint (ms). */
  endpointTimeoutMs?: number;
}

async function checkPrompts(c: CampaignConfig, problems: string[]): Promise<void> {
  let withoutCandidates = 0;
  let firstWithout: number | null = null;
  let prompts: number;
  try {
    prompts = (
      await loadPrompts(c.prompts.path, (p, line) => {
        if (!p.candidates) {
          withoutCandidates++;
          firstWithout ??= line;
        }
      })
    ).length;
  } catch (e) {
    if (e instanceof InputError) return void problems.push(`prompts.path: ${e.message}`);
    throw e;
  }
  // (Enough prompts for the iterations is checked with the file's shape, in load.ts.)
  if (prompts === 0) problems.push(`prompts.path: ${c.prompts.path} holds no prompts`);
  if (c.sampler.kind === 'builtin' && withoutCandidates > 0) {
    problems.push(
      `prompts.path: ${c.prompts.path}:${firstWithout}: ${withoutCandidates} of ${prompts} prompts have no "candidates", which the built-in sampler needs ` +
        `(add a candidates list per prompt, or sample from a model with another sampler kind)`,
    );
  }
}

async function checkRewardModel(c: CampaignConfig, problems: string[]): Promise<void> {
  if (c.labeler.kind !== 'reward-model') return;
  const l = c.labeler;
  const { RewardScorer } = await import('../activities/score/scorer');
  const { closeCachedSessions } = await import('../activities/score/ort-session');
  try {
    // Opens the ORT session (on the CPU: this machine may not be the GPU one) and the tokenizer, and encodes one item.
    const scorer = await RewardScorer.open({
      modelDir: l.model,
      provider: 'cpu',
      threads: 1,
      batchTokens: l.batchTokens,
      maxLength: l.maxLength,
      modelFile: l.modelFile,
      rewardIndex: l.rewardIndex,
    });
    scorer.encode({ prompt: [{ role: 'user', content: 'ping' }], response: 'pong' });
  } catch (e) {
    problems.push(`labeler.model: ${(e as Error).message}`);
  } finally {
    await closeCachedSessions();
  }
}

/** An OpenAI-compatible endpoint answers /models with the model in it; anything else is a warning only. */
async function checkEndpoint(what: string, ep: { baseURL: string; model: string; apiKeyEnv: string }, o: PreflightOptions): Promise<void> {
  const url = `${ep.baseURL.replace(/\/+$/, '')}/models`;
  const key = process.env[ep.apiKeyEnv];
  if (!key) o.warn(`warning: $${ep.apiKeyEnv} is not set here; the ${what} workers must have it`);
  try {
    const res = await fetch(url, { headers: key ? { authorization: `Bearer ${key}` } : {}, signal: AbortSignal.timeout(o.endpointTimeoutMs ?? 5000) });
    if (res.status === 401 || res.status === 403)
      o.warn(`warning: the ${what} endpoint ${ep.baseURL} rejected the API key in $${ep.apiKeyEnv} (HTTP ${res.status})`);
    else if (res.ok) {
      const body = (await res.json().catch(() => null)) as { data?: { id?: string }[] } | null;
      const ids = body?.data?.map((m) => m.id) ?? [];
      if (ids.length > 0 && !ids.includes(ep.model))
        o.warn(`warning: the ${what} endpoint ${ep.baseURL} does not list model "${ep.model}" (it lists ${ids.slice(0, 5).join(', ')})`);
    }
  } catch (e) {
    o.warn(`warning: the ${what} endpoint ${ep.baseURL} is not reachable from here (${(e as Error).message}); its workers will retry when the campaign runs`);
  }
}

/** Throws a ConfigError listing every problem; warns about what may be fine by the time the campaign runs. */
export async function preflight(file: string, c: CampaignConfig, o: PreflightOptions): Promise<void> {
  const problems: string[] = [];
  await checkPrompts(c, problems);
  await checkRewardModel(c, problems);
  if (c.labeler.kind === 'judge') await checkEndpoint('judge', c.labeler, o);
  // A templated model name ({{policy.name}}) is only known per iteration.
  if (c.sampler.kind === 'openai' && !c.sampler.model.includes('{{')) await checkEndpoint('sampling', c.sampler, o);
  if (c.sampler.kind === 'managed' || c.sampler.kind === 'command') checkCommand(c.sampler.command[0], 'sampler.command[0]', o);
  if (c.trainer.kind === 'command') {
    const t = c.trainer;
    const program = t.command?.[0] ?? (t.preset === 'custom' ? undefined : PRESETS[t.preset].argv(t)[0]);
    if (program) checkCommand(program, t.command ? 'trainer.command[0]' : `trainer.preset ${t.preset}`, o);
  }
  if (problems.length) throw new ConfigError(file, problems);
}

/** The program of a sampler or trainer command should exist where the sample workers run; here it is only a warning. */
function checkCommand(program: string, setting: string, o: PreflightOptions): void {
  if (program.includes('{{')) return;
  const found = program.includes('/')
    ? fs.existsSync(program)
    : (process.env.PATH ?? '').split(path.delimiter).some((d) => d && fs.existsSync(path.join(d, program)));
  if (!found) o.warn(`warning: ${setting} "${program}" is not on this PATH; the ${setting.startsWith('trainer') ? 'train' : 'sample'} workers must have it`);
}
