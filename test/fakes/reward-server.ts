/**
 * A local reward-model server (127.0.0.1) speaking the three protocols the `reward-server` labeler
 * uses, as the real servers answer them:
 *   vllm      POST /classify {model, input: string | string[], use_activation?}: {data: [{index, label, probs, num_classes}], usage};
 *             with activation on, a one-label model's probs are softmax over one class: always [1.0]
 *   sglang    POST /classify {model, text: string | string[]}: [{embedding: [score], meta_info}] (an object for one string)
 *   openrlhf  POST /get_reward {query: string[]}: {rewards, scores}
 * An unknown model gets vLLM's 404 error body. Faults on demand (each counts down per request):
 * `fail500`, `rateLimit` (429 with Retry-After: 1), `garbage` (200 with an HTML body), `short` (one
 * reward too few), `stallMs` (answer after a delay). The reward of a text is a hidden rule (words of
 * a good answer up, of a bad one down) so tests can check every reward.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { keyEchoBody } from './openai-judge-server';

export type RewardProtocol = 'vllm' | 'sglang' | 'openrlhf';

/** The hidden reward rule: what a correct labeler must reproduce for every text. */
export function hiddenReward(text: string): number {
  const t = text.toLowerCase();
  const good = (t.match(/\b(first|next|finally|step|plan|check)\b/g) ?? []).length;
  const bad = (t.match(/\b(whatever|boring|figure|maybe|um|don't know)\b/g) ?? []).length;
  return Math.round((good * 0.75 - bad * 1.25 + (t.length % 7) / 100) * 1e6) / 1e6;
}

export interface FakeRewardOptions {
  protocol: RewardProtocol;
  model?: string;
  /** vllm: labels of the classification head (2: the reward is logit 1, logit 0 is its negation). */
  numLabels?: 1 | 2;
  /** vllm: ignore the per-request activation switch (an older server): one-label probs are all 1.0. */
  ignoreActivationFlag?: boolean;
  apiKey?: string;
  /**
   * Answer every scoring request 400 with a plain-text body that names the API key it was sent, bare
   * (no header name, no "Bearer"), as some gateways' error pages do: only "secrets this process read" redacts it.
   */
  echoKeyInBody?: boolean;
  /** The reward rule instead of hiddenReward (e.g. a length-biased reward model that a policy can hack). */
  reward?: (text: string) => number;
}

export class FakeRewardServer {
  baseURL = '';
  readonly stats = { requests: 0, ok: 0, texts: 0, scored: new Map<string, number>(), errors: {} as Record<string, number> };
  faults = { fail500: 0, rateLimit: 0, garbage: 0, short: 0, stallMs: 0 };
  private server: http.Server | null = null;

  constructor(readonly opts: FakeRewardOptions) {}

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.baseURL = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (status >= 400) this.stats.errors[status] = (this.stats.errors[status] ?? 0) + 1;
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const o = this.opts;
    const route = o.protocol === 'openrlhf' ? '/get_reward' : '/classify';
    if (req.method !== 'POST' || req.url !== route) return this.send(res, 404, { detail: 'Not Found' });
    this.stats.requests++;
    if (o.apiKey && req.headers.authorization !== `Bearer ${o.apiKey}`)
      return this.send(res, 401, { error: { message: 'invalid api key', type: 'invalid_api_key' } });
    if (o.echoKeyInBody) {
      this.stats.errors[400] = (this.stats.errors[400] ?? 0) + 1;
      res.writeHead(400, { 'content-type': 'text/plain' });
      return void res.end(keyEchoBody(req.headers.authorization));
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return this.send(res, 400, { error: { message: 'body is not JSON' } });
    }
    if (o.protocol !== 'openrlhf' && body.model !== (o.model ?? 'rm')) {
      return this.send(res, 404, {
        object: 'error',
        message: `The model \`${String(body.model)}\` does not exist.`,
        type: 'NotFoundError',
        param: null,
        code: 404,
      });
    }
    const f = this.faults;
    if (f.rateLimit > 0) {
      f.rateLimit--;
      return this.send(res, 429, { error: { message: 'Too many requests' } }, { 'retry-after': '1' });
    }
    if (f.fail500 > 0) {
      f.fail500--;
      return this.send(res, 500, { error: { message: 'CUDA error: an illegal memory access was encountered' } });
    }
    if (f.stallMs > 0) await new Promise((r) => setTimeout(r, f.stallMs));
    if (f.garbage > 0) {
      f.garbage--;
      res.writeHead(200, { 'content-type': 'text/html' });
      return void res.end('<html><body>502 Bad Gateway</body></html>');
    }
    const input = o.protocol === 'vllm' ? body.input : o.protocol === 'sglang' ? body.text : body.query;
    const texts = typeof input === 'string' ? [input] : Array.isArray(input) ? (input as string[]) : null;
    if (!texts || !texts.every((t) => typeof t === 'string')) return this.send(res, 400, { error: { message: 'input must be a string or a list of strings' } });
    const rewards = texts.map(o.reward ?? hiddenReward);
    if (f.short > 0) {
      f.short--;
      rewards.pop();
    }
    this.stats.ok++;
    this.stats.texts += texts.length;
    for (const t of texts) this.stats.scored.set(t, (this.stats.scored.get(t) ?? 0) + 1);
    if (o.protocol === 'openrlhf') return this.send(res, 200, { rewards, scores: rewards });
    if (o.protocol === 'sglang') {
      const out = rewards.map((r, i) => ({ embedding: [r], meta_info: { id: `req-${i}`, prompt_tokens: Math.ceil(texts[i].length / 4) } }));
      return this.send(res, 200, typeof input === 'string' ? out[0] : out);
    }
    const activationOff = !o.ignoreActivationFlag && (body.use_activation === false || body.activation === false);
    const two = o.numLabels === 2;
    const data = rewards.map((r, i) => {
      const logits = two ? [-r, r] : [r];
      let probs = logits;
      if (!activationOff) {
        const m = Math.max(...logits);
        const e = logits.map((x) => Math.exp(x - m));
        probs = e.map((x) => x / e.reduce((a, b) => a + b, 0));
      }
      return { index: i, label: two ? (r > 0 ? 'LABEL_1' : 'LABEL_0') : 'LABEL_0', probs, num_classes: logits.length };
    });
    this.send(res, 200, {
      id: `classify-${this.stats.requests}`,
      object: 'list',
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      data,
      usage: { prompt_tokens: texts.join('').length, total_tokens: texts.join('').length },
    });
  }
}
