/**
 * A local OpenAI-compatible server for judge tests and benchmarks (127.0.0.1 only). It behaves like
 * a real provider, failures included: request and token limits per window with 429 + Retry-After,
 * x-ratelimit-* headers, auth and unknown-model errors, injected 5xx, hangs past timeouts, garbage
 * and out-of-range replies, with or without structured output. It judges by a hidden deterministic
 * rule (hiddenScore) so tests can check every label, and it counts every call.
 *
 * Faults are triggered by markers in the judged response text, so each failure path is exact:
 *   FAULT_500 (always 500), FAULT_FLAKY (500 on the first call for that text, then fine),
 *   FAULT_HANG (never answers), FAULT_GARBAGE (prose without a score), FAULT_RANGE (score 42),
 *   FAULT_SLOW (answers after slowMs).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeJudgeOptions {
  apiKey?: string;
  models?: string[];
  requestsPerWindow?: number;
  tokensPerWindow?: number;
  windowMs?: number;
  structuredOutput?: boolean;
  slowMs?: number;
  /** Fixed latency of every answer. */
  latencyMs?: number;
}

export interface FakeJudgeStats {
  calls: number;
  ok: number;
  rateLimited: number;
  errors: Record<string, number>;
  maxInFlight: number;
  /** Tokens and times of the requests that were admitted (not 429). */
  admitted: { at: number; tokens: number }[];
  /** Successful (paid) calls per judged response text. */
  paidByText: Map<string, number>;
  /** Successful (paid) calls per distinct request content (prompt + response(s)): "never pay twice". */
  paidByRequest: Map<string, number>;
}

const QUALITY = /\b(first|next|finally|step|check|plan|clear|practice|review)\b/gi;
const BAD = /\b(yourself|whatever|don't know|boring)\b/i;

/** The hidden rule: 1..10 from quality words, 1 for dismissive answers. */
export function hiddenScore(response: string): number {
  if (BAD.test(response)) return 1;
  return Math.min(10, 2 + (response.match(QUALITY) ?? []).length);
}

export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

function extract(tag: string, text: string): string | null {
  const m = new RegExp(`<${tag}>\\n?([\\s\\S]*?)\\n?</${tag}>`).exec(text);
  return m ? m[1] : null;
}

export class FakeJudgeServer {
  readonly stats: FakeJudgeStats = { calls: 0, ok: 0, rateLimited: 0, errors: {}, maxInFlight: 0, admitted: [], paidByText: new Map(), paidByRequest: new Map() };
  private server: http.Server;
  private inFlight = 0;
  private seenFlaky = new Set<string>();
  private hanging = new Set<http.ServerResponse>();
  baseURL = '';

  constructor(readonly opts: FakeJudgeOptions = {}) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.baseURL = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
    return this;
  }

  async stop(): Promise<void> {
    for (const r of this.hanging) r.destroy();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  private error(res: http.ServerResponse, status: number, type: string, message: string, headers: Record<string, string> = {}): void {
    this.stats.errors[String(status)] = (this.stats.errors[String(status)] ?? 0) + 1;
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify({ error: { message, type, code: type } }));
  }

  private window(now: number) {
    const w = this.opts.windowMs ?? 60000;
    const recent = this.stats.admitted.filter((a) => a.at > now - w);
    return { w, recent, requests: recent.length, tokens: recent.reduce((s, a) => s + a.tokens, 0) };
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) return this.error(res, 404, 'not_found', `no route ${req.method} ${req.url}`);
    this.stats.calls++;
    if (this.opts.apiKey && req.headers.authorization !== `Bearer ${this.opts.apiKey}`) {
      return this.error(res, 401, 'invalid_api_key', 'Incorrect API key provided.');
    }
    let body: { model: string; messages: { role: string; content: string }[]; response_format?: { type: string }; max_tokens?: number; max_completion_tokens?: number };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return this.error(res, 400, 'invalid_request_error', 'body is not JSON');
    }
    const models = this.opts.models ?? ['judge-small'];
    if (!models.includes(body.model)) return this.error(res, 404, 'model_not_found', `The model \`${body.model}\` does not exist.`);
    if (!Array.isArray(body.messages) || body.messages.length === 0) return this.error(res, 400, 'invalid_request_error', 'messages is required');
    if (body.response_format && body.response_format.type !== 'text' && !this.opts.structuredOutput) {
      return this.error(res, 400, 'invalid_request_error', `response_format ${body.response_format.type} is not supported by this server`);
    }
    const promptText = body.messages.map((m) => m.content).join('\n');
    const tokens = estimateTokens(promptText) + (body.max_completion_tokens ?? body.max_tokens ?? 16);
    const now = Date.now();
    const win = this.window(now);
    const reqLimit = this.opts.requestsPerWindow ?? Infinity;
    const tokLimit = this.opts.tokensPerWindow ?? Infinity;
    const rlHeaders = () => ({
      'x-ratelimit-limit-requests': String(reqLimit), 'x-ratelimit-remaining-requests': String(Math.max(0, reqLimit - win.requests - 1)),
      'x-ratelimit-limit-tokens': String(tokLimit), 'x-ratelimit-remaining-tokens': String(Math.max(0, tokLimit - win.tokens - tokens)),
    });
    if (win.requests + 1 > reqLimit || win.tokens + tokens > tokLimit) {
      // Retry when enough of the window has slid by.
      const oldest = win.recent[0]?.at ?? now;
      const waitMs = Math.max(50, oldest + win.w - now);
      this.stats.rateLimited++;
      return this.error(res, 429, 'rate_limit_exceeded', 'Rate limit reached', {
        'retry-after': String(Math.ceil(waitMs / 1000)), 'retry-after-ms': String(waitMs), ...rlHeaders(),
      });
    }
    this.stats.admitted.push({ at: now, tokens });
    const headers = rlHeaders();
    const judged = extract('response', promptText) ?? extract('response_a', promptText) ?? '';
    this.inFlight++;
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.inFlight);
    try {
      if (judged.includes('FAULT_HANG')) {
        this.hanging.add(res);
        return; // never answers; the client must time out
      }
      if (judged.includes('FAULT_500')) return this.error(res, 500, 'server_error', 'The server had an error while processing your request.', headers);
      if (judged.includes('FAULT_FLAKY') && !this.seenFlaky.has(judged)) {
        this.seenFlaky.add(judged);
        return this.error(res, 503, 'server_error', 'overloaded', headers);
      }
      const delay = (this.opts.latencyMs ?? 0) + (judged.includes('FAULT_SLOW') ? this.opts.slowMs ?? 2000 : 0);
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      let content: string;
      const a = extract('response_a', promptText), b = extract('response_b', promptText);
      if (a !== null && b !== null) {
        const sa = hiddenScore(a), sb = hiddenScore(b);
        const winner = sa === sb ? 'tie' : sa > sb ? 'A' : 'B';
        content = body.response_format ? JSON.stringify({ winner, score_a: sa, score_b: sb }) : `Verdict: ${winner}`;
      } else if (judged.includes('FAULT_GARBAGE')) {
        content = 'I would rather not rate this one, it is complicated.';
      } else {
        const score = judged.includes('FAULT_RANGE') ? 42 : hiddenScore(judged);
        content = body.response_format ? JSON.stringify({ reasoning: 'hidden rule', score }) : `The answer is ok.\nScore: ${score}`;
      }
      this.stats.ok++;
      this.stats.paidByText.set(judged, (this.stats.paidByText.get(judged) ?? 0) + 1);
      this.stats.paidByRequest.set(promptText, (this.stats.paidByRequest.get(promptText) ?? 0) + 1);
      const completionTokens = estimateTokens(content);
      res.writeHead(200, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify({
        id: `chatcmpl-${this.stats.calls}`, object: 'chat.completion', created: Math.floor(now / 1000), model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
        usage: { prompt_tokens: estimateTokens(promptText), completion_tokens: completionTokens, total_tokens: estimateTokens(promptText) + completionTokens },
      }));
    } finally {
      this.inFlight--;
    }
  }
}
