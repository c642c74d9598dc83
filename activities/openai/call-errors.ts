/**
 * What a failed call to an OpenAI-compatible endpoint means, for every caller (the judge, the
 * sampler): wait and retry (rate limit), retry a few times then give up on the item (timeouts,
 * dropped connections, 5xx, malformed bodies), or stop (bad key, unknown model, malformed request,
 * no quota). Facts behind it: the client's own timeout stops at the headers; undici reports a body cut
 * off as "TypeError: terminated"; gateways answer 200 with {"error": …}; accounts out of credit get 429
 * insufficient_quota; Retry-After may be an HTTP-date.
 */
import OpenAI from 'openai';
import { BodyTooLarge } from './body-limit';

export interface Endpoint {
  baseURL: string;
  model: string;
  apiKeyEnv: string;
  /** The campaign-file section, for messages: "labeler" or "sampler". */
  section: string;
}

/** A 200 whose body is not what was asked for. */
export class MalformedReply extends Error {
  constructor(
    message: string,
    readonly code: string | null,
  ) {
    super(message);
    this.name = 'MalformedReply';
  }
}

/** Retry-After as seconds or an HTTP-date, or retry-after-ms; null when the server gave none. */
export function retryAfterMs(h: Headers | undefined, now = Date.now()): number | null {
  const ms = Number(h?.get('retry-after-ms'));
  if (h?.get('retry-after-ms') && Number.isFinite(ms) && ms >= 0) return ms;
  const ra = h?.get('retry-after')?.trim();
  if (!ra) return null;
  if (/^\d+(\.\d+)?$/.test(ra)) return Number(ra) * 1000;
  const at = Date.parse(ra);
  return Number.isFinite(at) ? Math.max(0, at - now) : null;
}

/** 429s that are not rate limits: the account cannot pay. */
const QUOTA_CODES = new Set(['insufficient_quota', 'billing_hard_limit_reached', 'billing_not_active', 'quota_exceeded', 'access_terminated']);

export function errorCode(e: unknown): string | null {
  const x = (e ?? {}) as { code?: unknown; type?: unknown; error?: { code?: unknown; type?: unknown } };
  for (const v of [x.code, x.error?.code, x.type, x.error?.type]) if (typeof v === 'string') return v;
  return null;
}

function droppedConnection(e: unknown): boolean {
  const err = e as { name?: string; message?: string; cause?: { code?: string; name?: string } };
  return (
    (err?.name === 'TypeError' && /terminated|fetch failed|other side closed/i.test(err.message ?? '')) ||
    /^UND_ERR|ECONNRESET|EPIPE/.test(err?.cause?.code ?? '') ||
    err?.cause?.name === 'SocketError'
  );
}

/** Why a 200 chat completion body is unusable, or null. `choices` may be required to hold `n` of them. */
export function malformedCompletion(data: unknown, minChoices = 1): string | null {
  const d = data as { error?: { message?: string; code?: string }; choices?: { message?: { content?: unknown }; text?: unknown }[] } | null;
  if (!d || typeof d !== 'object') return 'the body is not a JSON object';
  if (d.error) return `the body is an error: ${d.error.code ?? ''} ${d.error.message ?? ''}`.trim();
  if (!Array.isArray(d.choices) || d.choices.length < minChoices) return `the body has ${Array.isArray(d.choices) ? d.choices.length : 'no'} choices`;
  for (const c of d.choices) {
    const content = c?.message ? c.message.content : c?.text;
    if (content !== null && content !== undefined && typeof content !== 'string') return 'a choice holds no text';
  }
  return null;
}

export type CallOutcome =
  /** Wait (every worker) and try again; not a failed attempt. */
  | { kind: 'rate_limited'; waitMs: number }
  /** A failed attempt: retry with backoff, then leave the item unlabelled / unsampled with this reason. */
  | { kind: 'retry'; failure: 'timeout' | 'connection_error' | 'server_error' | 'malformed_reply' }
  /** Retrying cannot help: the configuration (key, model, request) is wrong. */
  | { kind: 'config'; status: number; message: string }
  /** Retrying cannot help: the account is out of quota. */
  | { kind: 'quota'; message: string };

export function classifyCallError(e: unknown, ep: Endpoint, timedOut: boolean): CallOutcome {
  const quota = (code: string): CallOutcome => ({
    kind: 'quota',
    message:
      `${ep.baseURL} refused for lack of quota (${code}): the account is out of credit or over its spending limit; ` +
      'add credit or raise the limit with the provider, then resume',
  });
  if (e instanceof BodyTooLarge) return { kind: 'config', status: 200, message: e.message }; // retrying would read it again
  if (e instanceof MalformedReply) return e.code && QUOTA_CODES.has(e.code) ? quota(e.code) : { kind: 'retry', failure: 'malformed_reply' };
  const name = (e as Error)?.name;
  const connection = e instanceof OpenAI.APIConnectionError || droppedConnection(e);
  if (
    e instanceof OpenAI.APIConnectionTimeoutError ||
    e instanceof OpenAI.APIUserAbortError ||
    name === 'TimeoutError' ||
    name === 'AbortError' ||
    (connection && timedOut)
  ) {
    return { kind: 'retry', failure: 'timeout' }; // the whole-call timeout fired (headers or body)
  }
  if (connection) return { kind: 'retry', failure: 'connection_error' };
  if (e instanceof OpenAI.APIError) {
    const status = e.status ?? 0;
    const code = errorCode(e);
    if (status === 429 && code && QUOTA_CODES.has(code)) return quota(code);
    if (status === 429) return { kind: 'rate_limited', waitMs: retryAfterMs(e.headers) ?? 1000 };
    if (status === 401 || status === 403)
      return { kind: 'config', status, message: `${ep.baseURL} rejected the API key (HTTP ${status}); check the key in $${ep.apiKeyEnv}` };
    if (status === 404) return { kind: 'config', status, message: `${ep.baseURL} does not know model "${ep.model}" (HTTP 404); check ${ep.section}.model` };
    if (status >= 400 && status < 500) return { kind: 'config', status, message: `${ep.baseURL} rejected the request (HTTP ${status}): ${e.message}` };
    return { kind: 'retry', failure: 'server_error' };
  }
  if (e instanceof SyntaxError) return { kind: 'retry', failure: 'malformed_reply' }; // a 200 whose body is not JSON
  throw e;
}
