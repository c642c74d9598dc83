/** Checks that several kinds share: placeholders of a command, an OpenAI-compatible endpoint, a program on PATH. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { PreflightOptions, Problem } from '../../config/kind';
import { placeholdersOf } from '../process/argv-template';

/** Placeholders in `texts` that are neither built in (`allowed`) nor the block's own `vars`. */
export function unknownPlaceholders(texts: string[], allowed: string[], where: Problem['path'], hint = ''): Problem[] {
  const unknown = placeholdersOf(texts).filter((v) => !allowed.includes(v));
  if (unknown.length === 0) return [];
  return [
    {
      path: where,
      message: `unknown placeholder${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `{{${u}}}`).join(', ')}; use ${allowed.map((a) => `{{${a}}}`).join(', ')}${hint}`,
    },
  ];
}

/** An OpenAI-compatible endpoint answers /models with the model in it; anything else is a warning only. */
export async function checkEndpoint(what: string, ep: { baseURL: string; model: string; apiKeyEnv: string }, o: PreflightOptions): Promise<void> {
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

/** The program of a sampler or trainer command should exist where its workers run; here it is only a warning. */
export function checkCommand(program: string, setting: string, o: PreflightOptions): void {
  if (program.includes('{{')) return;
  const found = program.includes('/')
    ? fs.existsSync(program)
    : (process.env.PATH ?? '').split(path.delimiter).some((d) => d && fs.existsSync(path.join(d, program)));
  if (!found) o.warn(`warning: ${setting} "${program}" is not on this PATH; the ${setting.startsWith('trainer') ? 'train' : 'sample'} workers must have it`);
}

/** A real model's sampler next to the built-in trainer, which trains only the built-in miniature policy. */
export function builtinTrainerProblem(samplerKind: string, trainerKind: string, alternatives: string): Problem[] {
  if (trainerKind !== 'builtin') return [];
  return [
    {
      path: ['trainer', 'kind'],
      message: `the built-in trainer trains the built-in miniature policy, not the model ${samplerKind === 'openai' ? 'an openai sampler serves' : `a ${samplerKind} sampler runs`}; use ${alternatives}`,
    },
  ];
}
