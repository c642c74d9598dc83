/**
 * The `managed` sampler: alignloop starts the inference server itself for the iteration's policy
 * checkpoint (vLLM, SGLang, llama.cpp, `transformers serve`: any argv template), waits until it is
 * ready, samples through the `openai` sampler's machinery, and stops it when the iteration's sampling
 * is over. One server per campaign per worker process, shared by that worker's shards of an iteration.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ProcessFailed, SamplerConfigError } from '../../../config/errors';
import { BodyTooLarge, PROBE_BODY_LIMIT, readTextLimited } from '../../openai/body-limit';
import { freePort, HOST } from '../../artifacts/host';
import { lifecycle } from '../../lifecycle-log';
import { campaignDir, iterationDir } from '../../artifacts/store';
import { renderArgv, renderTemplate, TemplateError, TemplateVars } from '../../process/argv-template';
import { reapOrphans, registryDir, Supervised, withLogTail } from '../../process/supervisor';
import type { ManagedSamplerConfig } from './config';
import { policyVars, sampleFromServer } from '../openai/sampler';
import type { SampleJob, Sampler } from '../sampler';
import { childEnv, credentialNames } from '../../process/child-env';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Running {
  key: string;
  proc: Supervised;
  baseURL: string;
  model: string;
  users: number;
  idle: NodeJS.Timeout | null;
  stopTimeoutMs: number;
}

function render<T extends string | string[]>(value: T, vars: TemplateVars, setting: string): T {
  try {
    return (Array.isArray(value) ? renderArgv(value, vars, setting) : renderTemplate(value, vars, setting)) as T;
  } catch (e) {
    if (e instanceof TemplateError) throw new SamplerConfigError(e.message);
    throw e;
  }
}

export async function probe(url: string, post?: object): Promise<{ status: number; body: unknown } | { error: string }> {
  try {
    const init: RequestInit = post ? { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(post) } : {};
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(post ? 60000 : 5000) });
    const text = await readTextLimited(res, url, PROBE_BODY_LIMIT);
    let body: unknown = null;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON: reported by status */
    }
    return { status: res.status, body };
  } catch (e) {
    if (e instanceof BodyTooLarge) return { error: e.message };
    return { error: (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message };
  }
}

/** A one-token request for the model: what readiness falls back to when /v1/models cannot say. */
async function answersRequests(r: Running, c: ManagedSamplerConfig): Promise<{ ok: true } | { ok: false; why: string }> {
  const base = r.baseURL.replace(/\/+$/, '');
  const res =
    c.endpoint === 'chat'
      ? await probe(`${base}/chat/completions`, { model: r.model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 })
      : await probe(`${base}/completions`, { model: r.model, prompt: 'hi', max_tokens: 1 });
  if ('error' in res) return { ok: false, why: res.error };
  if (res.status === 200) return { ok: true };
  const detail = JSON.stringify(res.body ?? '').slice(0, 300);
  return { ok: false, why: `a 1-token request for "${r.model}" answered HTTP ${res.status} ${detail}` };
}

/**
 * Ready = /health answers 200 (or there is no /health), then /v1/models lists the model, or, where
 * /v1/models fails or does not list it (`transformers serve` answers 500 without a hub cache and
 * serves a model under its path), a one-token request for the model is answered.
 */
async function waitReady(r: Running, c: ManagedSamplerConfig, beat: (note: string) => void): Promise<void> {
  const root = r.baseURL.replace(/\/v1\/?$/, '');
  const deadline = Date.now() + c.readyTimeoutSeconds * 1000;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (!r.proc.running) {
      const x = r.proc.exitInfo!;
      throw new ProcessFailed(
        withLogTail(
          `sampler.command: the managed server exited ${x.signal ? `on ${x.signal}` : `with code ${x.code}`} before it became ready (${JSON.stringify(c.command)})`,
          r.proc.log,
        ),
      );
    }
    const health = await probe(`${root}/health`);
    if ('error' in health) last = `${root}/health: ${health.error}`;
    else if (health.status !== 200 && health.status !== 404) last = `${root}/health answered HTTP ${health.status}`;
    else {
      const models = await probe(`${r.baseURL.replace(/\/+$/, '')}/models`);
      if ('error' in models) last = `${r.baseURL}/models: ${models.error}`;
      else {
        const ids = models.status === 200 ? ((models.body as { data?: { id?: string }[] } | null)?.data ?? []).map((m) => m.id) : null;
        if (ids?.includes(r.model)) return;
        const asked = await answersRequests(r, c);
        if (asked.ok) return;
        last = `${ids ? `${r.baseURL}/models lists ${JSON.stringify(ids)}, not "${r.model}"` : `${r.baseURL}/models answered HTTP ${models.status}`}, and ${asked.why} (sampler.model must be the name the server serves, e.g. its --served-model-name, or "{{policy.path}}" for a server that serves a model under its path)`;
      }
    }
    beat(`waiting for the managed server: ${last}`);
    await sleep(500);
  }
  throw new ProcessFailed(
    withLogTail(
      `sampler.readyTimeoutSeconds: the managed server was not ready after ${c.readyTimeoutSeconds} s (last: ${last}); raise it if loading takes longer`,
      r.proc.log,
    ),
  );
}

/** This worker process's managed servers, one per campaign. */
class ManagedServers {
  private readonly servers = new Map<string, Promise<Running>>();
  private starts = 0;

  async acquire(job: SampleJob, c: ManagedSamplerConfig, vars: TemplateVars): Promise<Running> {
    const key = `${job.iteration}:${vars['policy.sha']}`;
    const current = this.servers.get(job.campaignId);
    if (current) {
      const r = await current.catch(() => null);
      if (r && r.key === key && r.proc.running) {
        r.users++;
        if (r.idle) clearTimeout(r.idle);
        r.idle = null;
        return r;
      }
      if (this.servers.get(job.campaignId) === current) await this.stop(job.campaignId);
      else return this.acquire(job, c, vars); // another shard started it meanwhile
    }
    const starting = this.start(job, c, vars, key);
    this.servers.set(job.campaignId, starting);
    try {
      const r = await starting;
      r.users++;
      return r;
    } catch (e) {
      if (this.servers.get(job.campaignId) === starting) this.servers.delete(job.campaignId);
      throw e;
    }
  }

  private async start(job: SampleJob, c: ManagedSamplerConfig, vars: TemplateVars, key: string): Promise<Running> {
    const dir = campaignDir(job.artifactsRoot, job.campaignId);
    const registry = registryDir(dir);
    // A server left behind by a worker that was killed would hold the GPU (and maybe the port).
    await reapOrphans(registry, c.stopTimeoutSeconds * 1000);
    const port = c.port || (await freePort());
    const all = { ...c.vars, ...vars, port: String(port) };
    const argv = render(c.command, all, 'sampler.command');
    const baseURL = render(c.baseURL, all, 'sampler.baseURL');
    const model = render(c.model, all, 'sampler.model');
    const log = path.join(iterationDir(job.artifactsRoot, job.campaignId, job.iteration), 'samples', 'server', `${HOST}-${process.pid}-${++this.starts}.log`);
    const proc = await Supervised.start({
      argv,
      env: childEnv(job.credentialEnv ?? credentialNames({ sampler: c, labeler: {} }), c),
      log,
      registry,
      label: 'sampler-server',
      setting: 'sampler.command',
    });
    const r: Running = { key, proc, baseURL, model, users: 0, idle: null, stopTimeoutMs: c.stopTimeoutSeconds * 1000 };
    lifecycle(`managed sampler server started for iteration ${job.iteration} (pid ${proc.pid}, ${baseURL}); log ${log}`, { argv0: argv[0], port });
    const t0 = Date.now();
    try {
      await waitReady(r, c, (note) => job.progress({ promptsDone: 0, prompts: job.prompts.length, note }));
    } catch (e) {
      await proc.stop(r.stopTimeoutMs);
      throw e;
    }
    lifecycle(`managed sampler server ready after ${((Date.now() - t0) / 1000).toFixed(1)} s (model "${model}")`, { pid: proc.pid });
    return r;
  }

  release(campaignId: string, r: Running, idleStopSeconds: number): void {
    r.users = Math.max(0, r.users - 1);
    if (r.users > 0) return;
    r.idle = setTimeout(() => {
      if (r.users === 0) void this.stop(campaignId);
    }, idleStopSeconds * 1000);
    r.idle.unref();
  }

  async stop(campaignId: string): Promise<boolean> {
    const current = this.servers.get(campaignId);
    if (!current) return false;
    this.servers.delete(campaignId);
    const r = await current.catch(() => null);
    if (!r) return false;
    if (r.idle) clearTimeout(r.idle);
    await r.proc.stop(r.stopTimeoutMs);
    lifecycle(`managed sampler server stopped (pid ${r.proc.pid})`, { campaignId });
    return true;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.servers.keys()].map((id) => this.stop(id)));
  }
}

export const managedServers = new ManagedServers();

export const managedSampler: Sampler<ManagedSamplerConfig> = {
  async sample(job) {
    const c = job.settings;
    const vars = policyVars(job);
    const r = await managedServers.acquire(job, c, vars);
    try {
      // endpoint: completions renders the policy's own chat template unless another tokenizer folder is named.
      const settings = c.endpoint === 'completions' && !c.tokenizer ? { ...c, tokenizer: vars['policy.path'] } : c;
      const out = await sampleFromServer(job, settings, { baseURL: r.baseURL, model: r.model, identity: `managed:${vars['policy.sha']}` });
      if (!r.proc.running) {
        const x = r.proc.exitInfo!;
        throw new ProcessFailed(
          withLogTail(
            `sampler.command: the managed server exited ${x.signal ? `on ${x.signal}` : `with code ${x.code}`} while sampling; samples received are kept, resume to start it again`,
            r.proc.log,
          ),
        );
      }
      return { ...out, serverLog: r.proc.log };
    } finally {
      managedServers.release(job.campaignId, r, c.idleStopSeconds);
    }
  },
};

/** Reaps servers of this host whose worker died (the iteration calls it when sampling is over). */
export async function reapManagedOrphans(root: string, campaignId: string): Promise<number> {
  const registry = registryDir(campaignDir(root, campaignId));
  if (!fs.existsSync(registry)) return 0;
  return (await reapOrphans(registry)).length;
}
