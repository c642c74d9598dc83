/**
 * Bodies read from servers (judge, sampler, reward server, readiness probes, batch result files)
 * stop at a size limit: a misbehaving or wrong endpoint that streams without end fails with a clear
 * error naming the server and the limit, instead of filling the worker's memory (or V8's 512 MiB
 * string limit) first. The openai package reads bodies through `limitedFetch` (its fetch option).
 */
const MiB = 1024 * 1024;

/** A chat/completions reply (n samples of maxTokens each) or a reward server's reply. */
export const REPLY_BODY_LIMIT = 64 * MiB;
/** A readiness probe (/v1/models, a 1-token request). */
export const PROBE_BODY_LIMIT = 1 * MiB;
/** A judge batch's output or error file (one shard's judgements). */
export const BATCH_FILE_LIMIT = 256 * MiB;

export const formatBytes = (n: number) => (n >= MiB ? `${+(n / MiB).toFixed(1)} MiB` : n >= 1024 ? `${+(n / 1024).toFixed(1)} KiB` : `${n} bytes`);

export class BodyTooLarge extends Error {
  constructor(
    readonly url: string,
    readonly limitBytes: number,
  ) {
    super(
      `${url} sent a body over ${formatBytes(limitBytes)} (alignloop's limit for what it reads from a server); is it the server you meant, and does it answer as the API says?`,
    );
    this.name = 'BodyTooLarge';
  }
}

/** The response with its body cut off by BodyTooLarge past `limitBytes` (a larger Content-Length fails at once). */
export function limitBody(res: Response, url: string, limitBytes: number): Response {
  if (!res.body) return res;
  const declared = Number(res.headers.get('content-length'));
  let seen = 0;
  const counted = res.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      start(c) {
        if (Number.isFinite(declared) && declared > limitBytes) c.error(new BodyTooLarge(url, limitBytes));
      },
      transform(chunk, c) {
        seen += chunk.byteLength;
        if (seen > limitBytes) c.error(new BodyTooLarge(url, limitBytes));
        else c.enqueue(chunk);
      },
    }),
  );
  const out = new Response(counted, { status: res.status, statusText: res.statusText, headers: res.headers });
  Object.defineProperty(out, 'url', { value: res.url });
  return out;
}

/** A fetch (for the openai package's `fetch` option) whose response bodies stop at `limitBytes`. */
export function limitedFetch(limitBytes: number): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    return limitBody(res, url.split('?')[0], limitBytes);
  };
}

/** The body as text, read no further than `limitBytes`. */
export function readTextLimited(res: Response, url: string, limitBytes: number): Promise<string> {
  return limitBody(res, url, limitBytes).text();
}
