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
 * Gateway faults (what proxies, load balancers and self-hosted servers do):
 *   FAULT_DROP (headers and half a body, then the connection is cut), FAULT_STALL (headers and half a
 *   body, then nothing), FAULT_ERROR200 (HTTP 200 whose body is {"error": …}), FAULT_NOCHOICES (200
 *   without choices), FAULT_HTML (200 with an HTML page), FAULT_TRUNC (finish_reason "length", the
 *   reply cut mid-way), FAULT_QUOTA (429 insufficient_quota: the account is out of credit),
 *   FAULT_REFUSAL (200, a refusal and no content). It bills like a provider (`stats.billed`, `billedUsd`):
 *   every reply it produced is paid, usable or not (no choices, a refusal, garbage, cut at max_tokens),
 *   and so is a reply whose connection it cut (FAULT_DROP) after computing it.
 *   Options: `usage: false` (no usage block), `retryAfter` (how 429s say when to come back).
 *
 * Pairwise prompts (<response_a>/<response_b>) get "Verdict: A|B|tie" (plus "Score A/B" lines) or
 * JSON {reasoning, winner, score_a, score_b}; `positionBias` makes a deterministic share of them
 * answer "A" whatever is shown, as real judges do. The Batch API is there too (/files, /batches):
 * a batch completes (or expires, or fails) batchDelayMs after creation, its items judged like online calls.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/** The plain-text 400 of a gateway that quotes the key it refused (see echoKeyInBody). */
export function keyEchoBody(authorization: string | undefined): string {
  const key = (authorization ?? '').replace(/^Bearer /, '');
  return `gateway policy: the key ${key} may not use this route; ask your administrator`;
}

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
  /** Send x-ratelimit-* headers (default true); many compatible servers send none, and only 429s tell. */
  rateLimitHeaders?: boolean;
  /** Share (0..1) of pairwise requests answered "A" whatever is shown (chosen by a hash of the request). */
  positionBias?: number;
  /** Batch API: how long a batch takes, and how it ends (expired: only the first half of its items answered). */
  batchDelayMs?: number;
  batchOutcome?: 'completed' | 'expired' | 'failed';
  /** Send a usage block (default true); some self-hosted servers send none. */
  usage?: boolean;
  /** How a 429 says when to retry: seconds (default, with retry-after-ms), an HTTP-date, or retry-after-ms alone. */
  retryAfter?: 'seconds' | 'date' | 'ms';
  /**
   * How the server counts tokens: a quarter of the characters (default), or as subword tokenizers do
   * (a token per punctuation mark, a word in pieces of up to 3 characters): more than a quarter of the
   * characters, as real tokenizers often count.
   */
  countTokens?: 'chars' | 'subwords';
  /** Answer every chat request 400 with the request's headers (API key included) echoed in the body, as some gateways do. */
  echoHeadersOnError?: boolean;
  /**
   * Answer every chat request 400 with a plain-text body that names the API key it was sent, bare
   * (no header name, no "Bearer"), as some gateways' error pages do: only "secrets this process read" redacts it.
   */
  echoKeyInBody?: boolean;
}

export interface FakeJudgeStats {
  calls: number;
  ok: number;
  rateLimited: number;
  errors: Record<string, number>;
  maxInFlight: number;
  /** Tokens and times of the requests that were admitted (not 429). */
  admitted: { at: number; tokens: number }[];
  /** Rate-limit 429s: when, and the time the reply told the client to come back. */
  rejections: { at: number; retryAt: number }[];
  /** Successful (paid) calls per judged response text. */
  paidByText: Map<string, number>;
  /** Successful (paid) calls per distinct request content (prompt + response(s)): "never pay twice". */
  paidByRequest: Map<string, number>;
  /** Batch API: files uploaded, batches created, batch items answered (paid). */
  filesUploaded: number;
  batchesCreated: number;
  batchItems: number;
  /** What the provider bills: every reply it produced, usable or not. */
  billed: { calls: number; promptTokens: number; completionTokens: number };
}

interface ChatBody {
  model: string;
  messages: { role: string; content: string }[];
  response_format?: { type: string };
  max_tokens?: number;
  max_completion_tokens?: number;
}

interface Reply {
  status: number;
  body: unknown;
}

interface FakeBatch {
  id: string;
  object: 'batch';
  endpoint: string;
  input_file_id: string;
  completion_window: string;
  status: string;
  output_file_id: string | null;
  error_file_id: string | null;
  created_at: number;
  metadata: Record<string, string> | null;
  request_counts: { total: number; completed: number; failed: number };
}

const QUALITY = /\b(first|next|finally|step|check|plan|clear|practice|review)\b/gi;
const BAD = /\b(yourself|whatever|don't know|boring)\b/i;

/** The hidden rule: 1..10 from quality words, 1 for dismissive answers. */
export function hiddenScore(response: string): number {
  if (BAD.test(response)) return 1;
  return Math.min(10, 2 + (response.match(QUALITY) ?? []).length);
}

function hash01(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return (h >>> 0) / 4294967296;
}

export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

function extract(tag: string, text: string): string | null {
  const m = new RegExp(`<${tag}>\\n?([\\s\\S]*?)\\n?</${tag}>`).exec(text);
  return m ? m[1] : null;
}

/** The response text(s) under judgement: fault markers in either response of a pair apply. */
function judgedText(promptText: string): string {
  return extract('response', promptText) ?? [extract('response_a', promptText), extract('response_b', promptText)].filter((x) => x !== null).join('\n');
}

export class FakeJudgeServer {
  readonly stats: FakeJudgeStats = {
    calls: 0,
    ok: 0,
    rateLimited: 0,
    errors: {},
    maxInFlight: 0,
    admitted: [],
    rejections: [],
    paidByText: new Map(),
    paidByRequest: new Map(),
    filesUploaded: 0,
    batchesCreated: 0,
    batchItems: 0,
    billed: { calls: 0, promptTokens: 0, completionTokens: 0 },
  };

  /** The bill in dollars at these prices (batch: the Batch API's half price). */
  billedUsd(prices: { inputPerMTok: number; outputPerMTok: number }): number {
    return (this.stats.billed.promptTokens * prices.inputPerMTok + this.stats.billed.completionTokens * prices.outputPerMTok) / 1e6;
  }

  private tokens(text: string): number {
    if (this.opts.countTokens !== 'subwords') return estimateTokens(text);
    return (text.match(/\w+|[^\w\s]/g) ?? []).reduce((n, t) => n + Math.ceil(t.length / 3), 0);
  }

  /** A produced reply is billed, and its usage block (if the server sends one) says what. */
  private bill(promptText: string, completion: string) {
    const u = { prompt_tokens: this.tokens(promptText), completion_tokens: this.tokens(completion) };
    this.stats.billed.calls++;
    this.stats.billed.promptTokens += u.prompt_tokens;
    this.stats.billed.completionTokens += u.completion_tokens;
    return this.opts.usage === false ? {} : { usage: { ...u, total_tokens: u.prompt_tokens + u.completion_tokens } };
  }
  readonly files = new Map<string, string>();
  readonly batches = new Map<string, FakeBatch>();
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
    this.send(res, status, { error: { message, type, code: type } }, headers);
  }

  private window(now: number) {
    const w = this.opts.windowMs ?? 60000;
    const recent = this.stats.admitted.filter((a) => a.at > now - w);
    return { w, recent, requests: recent.length, tokens: recent.reduce((s, a) => s + a.tokens, 0) };
  }

  private send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (status >= 400) this.stats.errors[String(status)] = (this.stats.errors[String(status)] ?? 0) + 1;
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://x');
    const route = `${req.method} ${url.pathname.replace(/^\/v1/, '')}`;
    if (this.opts.apiKey && req.headers.authorization !== `Bearer ${this.opts.apiKey}`) {
      this.stats.calls++;
      return this.error(res, 401, 'invalid_api_key', 'Incorrect API key provided.');
    }
    if (route === 'POST /chat/completions' && this.opts.echoKeyInBody) {
      this.stats.calls++;
      this.stats.errors['400'] = (this.stats.errors['400'] ?? 0) + 1;
      res.writeHead(400, { 'content-type': 'text/plain' });
      return void res.end(keyEchoBody(req.headers.authorization));
    }
    if (route === 'POST /chat/completions' && this.opts.echoHeadersOnError) {
      this.stats.calls++;
      return this.error(res, 400, 'invalid_request_error', `request rejected by gateway policy; received headers: ${JSON.stringify(req.headers)}`);
    }
    if (route === 'POST /chat/completions') return this.chat(raw, res);
    if (route === 'POST /files') return this.upload(raw, String(req.headers['content-type'] ?? ''), res);
    if (route === 'POST /batches') return this.createBatch(raw, res);
    if (route === 'GET /batches') {
      const all = [...this.batches.values()].reverse();
      return this.send(res, 200, { object: 'list', data: all, has_more: false, first_id: all[0]?.id ?? null, last_id: all.at(-1)?.id ?? null });
    }
    let m = /^GET \/batches\/([^/]+)$/.exec(route);
    if (m) return this.batches.has(m[1]) ? this.send(res, 200, this.batches.get(m[1])) : this.error(res, 404, 'not_found', `No batch ${m[1]}`);
    m = /^GET \/files\/([^/]+)\/content$/.exec(route);
    if (m && this.files.has(m[1])) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      return void res.end(this.files.get(m[1]));
    }
    return this.error(res, 404, 'not_found', `no route ${req.method} ${req.url}`);
  }

  private upload(raw: Buffer, contentType: string, res: http.ServerResponse): void {
    const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
    if (!boundary) return this.error(res, 400, 'invalid_request_error', 'expected multipart/form-data');
    const parts = raw.toString('utf8').split(`--${boundary[1] ?? boundary[2]}`);
    const filePart = parts.find((p) => /name="file"/.test(p));
    const purpose = parts
      .find((p) => /name="purpose"/.test(p))
      ?.split('\r\n\r\n')[1]
      ?.trim();
    if (!filePart || purpose !== 'batch') return this.error(res, 400, 'invalid_request_error', 'a file and purpose=batch are required');
    const content = filePart.slice(filePart.indexOf('\r\n\r\n') + 4).replace(/\r\n$/, '');
    const id = `file-${++this.stats.filesUploaded}`;
    this.files.set(id, content);
    this.send(res, 200, {
      id,
      object: 'file',
      bytes: Buffer.byteLength(content),
      created_at: Math.floor(Date.now() / 1000),
      filename: 'input.jsonl',
      purpose: 'batch',
      status: 'processed',
    });
  }

  private createBatch(raw: Buffer, res: http.ServerResponse): void {
    const body = JSON.parse(raw.toString('utf8')) as { input_file_id: string; endpoint: string; completion_window: string; metadata?: Record<string, string> };
    const input = this.files.get(body.input_file_id);
    if (input === undefined) return this.error(res, 400, 'invalid_request_error', `no file ${body.input_file_id}`);
    const lines = input.split('\n').filter((l) => l.trim());
    const b: FakeBatch = {
      id: `batch_${++this.stats.batchesCreated}`,
      object: 'batch',
      endpoint: body.endpoint,
      input_file_id: body.input_file_id,
      completion_window: body.completion_window,
      status: 'validating',
      output_file_id: null,
      error_file_id: null,
      created_at: Math.floor(Date.now() / 1000),
      metadata: body.metadata ?? null,
      request_counts: { total: lines.length, completed: 0, failed: 0 },
    };
    this.batches.set(b.id, b);
    setTimeout(() => void (b.status = 'in_progress'), 10).unref();
    setTimeout(() => this.finishBatch(b, lines), this.opts.batchDelayMs ?? 300).unref();
    this.send(res, 200, b);
  }

  private finishBatch(b: FakeBatch, lines: string[]): void {
    const outcome = this.opts.batchOutcome ?? 'completed';
    if (outcome === 'failed') {
      b.status = 'failed';
      return;
    }
    const answered = outcome === 'expired' ? lines.slice(0, Math.floor(lines.length / 2)) : lines;
    const out: string[] = [];
    const errs: string[] = [];
    for (const line of answered) {
      const item = JSON.parse(line) as { custom_id: string; body: ChatBody };
      const r = this.answer(item.body, true);
      const rec = {
        id: `batch_req_${out.length + errs.length}`,
        custom_id: item.custom_id,
        response: { status_code: r.status, request_id: 'req', body: r.body },
        error: null,
      };
      (r.status === 200 ? out : errs).push(JSON.stringify(rec));
      if (r.status === 200) b.request_counts.completed++;
      else b.request_counts.failed++;
    }
    if (out.length) {
      b.output_file_id = `file-out-${b.id}`;
      this.files.set(b.output_file_id, out.join('\n') + '\n');
    }
    if (errs.length) {
      b.error_file_id = `file-err-${b.id}`;
      this.files.set(b.error_file_id, errs.join('\n') + '\n');
    }
    b.status = outcome;
  }

  /** The judge itself: a parsed chat request -> status and body (no limits, no hangs). */
  private answer(body: ChatBody, batch: boolean): Reply {
    const promptText = body.messages.map((m) => m.content).join('\n');
    const judged = judgedText(promptText);
    if (judged.includes('FAULT_500') || (batch && judged.includes('FAULT_HANG'))) {
      return { status: 500, body: { error: { message: 'The server had an error while processing your request.', type: 'server_error' } } };
    }
    let content: string;
    const a = extract('response_a', promptText),
      b = extract('response_b', promptText);
    if (a !== null && b !== null) {
      const sa = hiddenScore(a),
        sb = hiddenScore(b);
      const biased = hash01(promptText) < (this.opts.positionBias ?? 0);
      const winner = biased ? 'A' : sa === sb ? 'tie' : sa > sb ? 'A' : 'B';
      content = judged.includes('FAULT_GARBAGE')
        ? 'Both have merits; hard to say.'
        : body.response_format
          ? JSON.stringify({ reasoning: 'hidden rule', winner, score_a: sa, score_b: sb })
          : `Both answers address the request.\nScore A: ${sa}\nScore B: ${sb}\nVerdict: ${winner}`;
    } else if (judged.includes('FAULT_GARBAGE')) {
      content = 'I would rather not rate this one, it is complicated.';
    } else {
      const score = judged.includes('FAULT_RANGE') ? 42 : hiddenScore(judged);
      content = body.response_format ? JSON.stringify({ reasoning: 'hidden rule', score }) : `The answer is ok.\nScore: ${score}`;
    }
    this.stats.ok++;
    if (batch) this.stats.batchItems++;
    this.stats.paidByText.set(judged, (this.stats.paidByText.get(judged) ?? 0) + 1);
    this.stats.paidByRequest.set(promptText, (this.stats.paidByRequest.get(promptText) ?? 0) + 1);
    // Cut at max_tokens: the final line (with the score) may be lost, or cut to another number.
    const truncated = judged.includes('FAULT_TRUNC');
    if (truncated) content = body.response_format ? '{"reasoning": "it is fine", "score": 1' : 'The answer is fine.\nScore: 1'; // was writing "Score: 10"…
    return {
      status: 200,
      body: {
        id: `chatcmpl-${this.stats.calls}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: truncated ? 'length' : 'stop' }],
        ...this.bill(promptText, content),
      },
    };
  }

  private async chat(raw: Buffer, res: http.ServerResponse): Promise<void> {
    this.stats.calls++;
    let body: ChatBody;
    try {
      body = JSON.parse(raw.toString('utf8'));
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
    // Time until the oldest admitted request leaves the window, as OpenAI's duration strings ("850ms").
    const reset = `${Math.max(0, (win.recent[0]?.at ?? now) + win.w - now)}ms`;
    const rlHeaders = (): Record<string, string> =>
      this.opts.rateLimitHeaders === false
        ? {}
        : {
            // Limits per minute, as OpenAI sends them; what remains is of the server's own window.
            'x-ratelimit-limit-requests': String((reqLimit * 60000) / win.w),
            'x-ratelimit-remaining-requests': String(Math.max(0, reqLimit - win.requests - 1)),
            'x-ratelimit-limit-tokens': String((tokLimit * 60000) / win.w),
            'x-ratelimit-remaining-tokens': String(Math.max(0, tokLimit - win.tokens - tokens)),
            'x-ratelimit-reset-requests': reset,
            'x-ratelimit-reset-tokens': reset,
          };
    if (win.requests + 1 > reqLimit || win.tokens + tokens > tokLimit) {
      // Retry when enough of the window has slid by.
      const oldest = win.recent[0]?.at ?? now;
      const waitMs = Math.max(50, oldest + win.w - now);
      this.stats.rateLimited++;
      const date = new Date(now + waitMs + 1000).toUTCString(); // HTTP-dates have whole seconds
      const when: Record<string, string> =
        this.opts.retryAfter === 'date'
          ? { 'retry-after': date }
          : this.opts.retryAfter === 'ms'
            ? { 'retry-after-ms': String(waitMs) }
            : { 'retry-after': String(Math.ceil(waitMs / 1000)), 'retry-after-ms': String(waitMs) };
      this.stats.rejections.push({ at: now, retryAt: this.opts.retryAfter === 'date' ? Date.parse(date) : now + waitMs });
      return this.error(res, 429, 'rate_limit_exceeded', 'Rate limit reached', { ...when, ...rlHeaders() });
    }
    this.stats.admitted.push({ at: now, tokens });
    const headers = rlHeaders();
    const judged = judgedText(promptText);
    this.inFlight++;
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.inFlight);
    try {
      if (judged.includes('FAULT_HANG')) {
        this.hanging.add(res);
        return; // never answers; the client must time out
      }
      if (judged.includes('FAULT_QUOTA')) {
        return this.error(res, 429, 'insufficient_quota', 'You exceeded your current quota, please check your plan and billing details.');
      }
      if (judged.includes('FAULT_DROP') || judged.includes('FAULT_STALL')) {
        res.writeHead(200, { 'content-type': 'application/json', ...headers });
        res.write('{"id":"chatcmpl-x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"The ans');
        // The reply was computed, so it is billed, though the client never reads it.
        if (judged.includes('FAULT_DROP')) this.bill(promptText, 'The answer is ok.\nScore: 5');
        if (judged.includes('FAULT_DROP')) setTimeout(() => res.socket?.destroy(), 20);
        else this.hanging.add(res);
        return;
      }
      if (judged.includes('FAULT_ERROR200'))
        return this.send(res, 200, { error: { message: 'upstream provider failed', type: 'server_error', code: 'upstream_error' } }, headers);
      if (judged.includes('FAULT_NOCHOICES'))
        return this.send(res, 200, { id: 'chatcmpl-x', object: 'chat.completion', model: body.model, choices: [], ...this.bill(promptText, '') }, headers);
      if (judged.includes('FAULT_REFUSAL')) {
        const refusal = "I'm sorry, I can't help with rating that.";
        const message = { role: 'assistant', content: null, refusal };
        return this.send(
          res,
          200,
          {
            id: 'chatcmpl-x',
            object: 'chat.completion',
            model: body.model,
            choices: [{ index: 0, message, finish_reason: 'stop' }],
            ...this.bill(promptText, refusal),
          },
          headers,
        );
      }
      if (judged.includes('FAULT_HTML')) {
        res.writeHead(200, { 'content-type': 'text/html' });
        return void res.end('<html><body>502 Bad Gateway</body></html>');
      }
      if (judged.includes('FAULT_FLAKY') && !this.seenFlaky.has(judged)) {
        this.seenFlaky.add(judged);
        return this.error(res, 503, 'server_error', 'overloaded', headers);
      }
      const delay = (this.opts.latencyMs ?? 0) + (judged.includes('FAULT_SLOW') ? (this.opts.slowMs ?? 2000) : 0);
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      const r = this.answer(body, false);
      this.send(res, r.status, r.body, headers);
    } finally {
      this.inFlight--;
    }
  }
}
