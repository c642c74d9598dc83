/**
 * A local OpenAI-compatible policy server for sampler tests and benchmarks (127.0.0.1 only), behaving
 * like vLLM where it matters: /v1/models, /v1/chat/completions and /v1/completions, `n` samples per
 * request, `seed` (the same seed gives the same sample), finish_reason "length" when max_tokens cuts
 * the answer, usage, 429 + Retry-After under a request limit, and faults on demand. It answers from
 * each prompt's candidate pool when it knows one (so reward models score real answers), and counts
 * every sample it serves by (prompt, seed, index).
 *
 * Faults are triggered by markers in the prompt: FAULT_500 (always 500), FAULT_FLAKY (500 the first
 * time), FAULT_DROP (connection cut mid-body), FAULT_EMPTY (an empty completion), FAULT_LONG (an
 * answer longer than any max_tokens).
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { keyEchoBody } from './openai-judge-server';

export interface FakePolicyOptions {
  models?: string[];
  apiKey?: string;
  /** How `n` is treated: honoured (vLLM), ignored (one choice back, as llama.cpp's server), or refused with a 400. */
  n?: 'honour' | 'ignore' | 'refuse';
  /** prompt text (the last user turn) -> answers to draw from. */
  candidates?: Map<string, string[]>;
  latencyMs?: number;
  requestsPerWindow?: number;
  windowMs?: number;
  /** Listen on this port (0: any free one). */
  port?: number;
  /**
   * transformers-serve: as `transformers serve MODEL` (transformers 5.17) answers: GET /v1/models fails
   * with a 500 (it lists the hub cache, absent on a fresh machine), the model is served under its path
   * and another name gets a 400 `{"detail": "Server is pinned to …"}`, `n` is ignored.
   */
  like?: 'vllm' | 'transformers-serve';
  /** Called with each sample served (prompt, seed, index), e.g. to log it to a file from a server subprocess. */
  onServe?: (key: string) => void;
  /**
   * Answer every completion request 400 with a plain-text body that names the API key it was sent, bare
   * (no header name, no "Bearer"), as some gateways' error pages do: only "secrets this process read" redacts it.
   */
  echoKeyInBody?: boolean;
}

export interface FakePolicyStats {
  requests: number;
  ok: number;
  rateLimited: number;
  errors: Record<string, number>;
  /** Samples served, by (prompt, seed, choice index): a sample asked for twice shows up as 2. */
  served: Map<string, number>;
  admitted: number[];
}

const tokens = (t: string) => Math.ceil(t.length / 4);

export function lastUser(messages: { role: string; content: string }[]): string {
  return [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
}

export class FakePolicyServer {
  readonly stats: FakePolicyStats = { requests: 0, ok: 0, rateLimited: 0, errors: {}, served: new Map(), admitted: [] };
  private server: http.Server | null = null;
  private readonly flaky = new Set<string>();
  baseURL = '';
  /** While false, /health and every route answer 503 "loading" (as llama.cpp's server does while it loads a model). */
  ready = true;

  constructor(readonly opts: FakePolicyOptions = {}) {}

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((e) => {
        if (!res.headersSent) this.send(res, 500, { error: { message: String(e), type: 'server_error' } });
      });
    });
    await new Promise<void>((r) => this.server!.listen(this.opts.port ?? 0, '127.0.0.1', () => r()));
    this.baseURL = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (status >= 400) this.stats.errors[String(status)] = (this.stats.errors[String(status)] ?? 0) + 1;
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  /** The answer for (prompt, seed, index): from the prompt's pool when known, else made up; deterministic. */
  answer(prompt: string, seed: number, i: number): string {
    const h = createHash('sha256').update(`${prompt}\u0000${seed}\u0000${i}`).digest();
    const pool = this.opts.candidates?.get(prompt);
    if (prompt.includes('FAULT_EMPTY')) return '';
    if (prompt.includes('FAULT_LONG')) return 'word '.repeat(5000);
    if (pool && pool.length) return pool[h.readUInt32BE(0) % pool.length];
    return `Answer ${h.toString('hex').slice(0, 8)} to: ${prompt.slice(0, 40)}`;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'http://x');
    const route = `${req.method} ${url.pathname.replace(/^\/v1/, '')}`;
    const models = this.opts.models ?? ['policy'];
    if (this.opts.apiKey && req.headers.authorization !== `Bearer ${this.opts.apiKey}`) {
      return this.send(res, 401, { error: { message: 'Incorrect API key provided.', type: 'invalid_api_key', code: 'invalid_api_key' } });
    }
    if (!this.ready) return this.send(res, 503, { error: { message: 'Loading model', type: 'unavailable_error', code: 503 } });
    const hf = this.opts.like === 'transformers-serve';
    if (route === 'GET /models' && hf) {
      this.stats.errors['500'] = (this.stats.errors['500'] ?? 0) + 1;
      res.writeHead(500, { 'content-type': 'text/plain' });
      return void res.end('Internal Server Error');
    }
    if (route === 'GET /models') return this.send(res, 200, { object: 'list', data: models.map((id) => ({ id, object: 'model', owned_by: 'fake' })) });
    if (route === 'GET /health') return this.send(res, 200, {});
    if ((route === 'POST /chat/completions' || route === 'POST /completions') && this.opts.echoKeyInBody) {
      this.stats.errors['400'] = (this.stats.errors['400'] ?? 0) + 1;
      res.writeHead(400, { 'content-type': 'text/plain' });
      return void res.end(keyEchoBody(req.headers.authorization));
    }
    if (route !== 'POST /chat/completions' && route !== 'POST /completions')
      return this.send(res, 404, { error: { message: `no route ${route}`, type: 'not_found' } });
    this.stats.requests++;
    let body: { model: string; messages?: { role: string; content: string }[]; prompt?: string; n?: number; seed?: number; max_tokens?: number };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return this.send(res, 400, { error: { message: 'body is not JSON', type: 'invalid_request_error' } });
    }
    if (!models.includes(body.model) && hf) return this.send(res, 400, { detail: `Server is pinned to '${models[0]}'; requested '${body.model}'.` });
    if (!models.includes(body.model))
      return this.send(res, 404, { error: { message: `The model \`${body.model}\` does not exist.`, type: 'NotFoundError', code: 404 } });
    const chat = route === 'POST /chat/completions';
    const prompt = chat ? lastUser(body.messages ?? []) : (body.prompt ?? '');
    const now = Date.now();
    const w = this.opts.windowMs ?? 60000;
    const recent = this.stats.admitted.filter((t) => t > now - w);
    if (this.opts.requestsPerWindow !== undefined && recent.length + 1 > this.opts.requestsPerWindow) {
      this.stats.rateLimited++;
      const wait = Math.max(50, recent[0] + w - now);
      return this.send(res, 429, { error: { message: 'Rate limit reached', type: 'rate_limit_exceeded' } }, { 'retry-after-ms': String(wait) });
    }
    this.stats.admitted.push(now);
    let n = body.n ?? 1;
    if (n > 1 && this.opts.n === 'refuse')
      return this.send(res, 400, { error: { message: 'n > 1 is not supported (use n=1)', type: 'invalid_request_error' } });
    if (this.opts.n === 'ignore' || hf) n = 1;
    if (prompt.includes('FAULT_500') || (prompt.includes('FAULT_FLAKY') && !this.flaky.has(prompt))) {
      this.flaky.add(prompt);
      return this.send(res, 500, { error: { message: 'internal error', type: 'server_error' } });
    }
    if (this.opts.latencyMs) await new Promise((r) => setTimeout(r, this.opts.latencyMs));
    if (prompt.includes('FAULT_DROP')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"id":"cmpl-x","choices":[{"index":0,');
      setTimeout(() => res.socket?.destroy(), 10);
      return;
    }
    const seed = body.seed ?? 0;
    const maxChars = (body.max_tokens ?? 16) * 4;
    let completion = 0;
    const choices = Array.from({ length: n }, (_, i) => {
      const full = this.answer(prompt, seed, i);
      const cut = full.length > maxChars;
      const text = cut ? full.slice(0, maxChars) : full;
      completion += tokens(text);
      const k = `${prompt}\u0000${seed}\u0000${i}`;
      this.stats.served.set(k, (this.stats.served.get(k) ?? 0) + 1);
      this.opts.onServe?.(k);
      const finish_reason = cut ? 'length' : 'stop';
      return chat ? { index: i, message: { role: 'assistant', content: text }, finish_reason } : { index: i, text, finish_reason };
    });
    this.stats.ok++;
    this.send(res, 200, {
      id: `cmpl-${this.stats.requests}`,
      object: chat ? 'chat.completion' : 'text_completion',
      created: Math.floor(now / 1000),
      model: body.model,
      choices,
      usage: { prompt_tokens: tokens(prompt), completion_tokens: completion, total_tokens: tokens(prompt) + completion },
    });
  }
}
