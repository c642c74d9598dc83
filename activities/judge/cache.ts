/**
 * Never pay twice: every completed judgement is appended (and fsync'd) as it arrives, keyed by
 * everything that decides it: (endpoint base URL, judge model, structured-output setting, template
 * hash, decoding parameters, prompt, response(s), order). Two servers that serve the same model name
 * are two judges. Keys of versions before the base URL was in the key (no "v2" in them) never match:
 * such entries are not used (they cannot say which server gave them); they may be deleted. Each process appends
 * to its own file in the cache folder and reads the others' (at start, and again while it waits for
 * a judgement another worker is buying), so a retried shard, a restarted worker, or the same text in a
 * later iteration reads the judgement back instead of buying it again. A claim file per key in flight
 * stops two workers from buying the same judgement at the same moment.
 */
import { createHash } from 'node:crypto';
import { ReplyCache } from '../openai/reply-cache';

export interface CachedJudgement {
  key: string;
  /** "ok" or the reason the reply gives no judgement (unparsable, out_of_range, non_integer, empty_reply, truncated). */
  status: string;
  /** pointwise: the rating. */
  score?: number | null;
  /** pairwise: the verdict about the responses as shown (A first), and the judge's scores if it gave them. */
  winner?: 'A' | 'B' | 'tie' | null;
  scoreA?: number | null;
  scoreB?: number | null;
  raw: string;
  promptTokens: number;
  completionTokens: number;
  /** The server sent no usage: the token counts (and so the cost) are our estimate. */
  tokensEstimated?: boolean;
  /** Bought through the Batch API (priced at the batch factor). */
  batch?: boolean;
  at: string;
}

export function judgementKey(parts: {
  baseURL: string;
  model: string;
  structured: string;
  templateSha256: string;
  decoding: Record<string, unknown>;
  prompt: unknown;
  response: string | string[];
  order: string;
}): string {
  return createHash('sha256')
    .update(
      JSON.stringify([
        'v2',
        parts.baseURL.replace(/\/+$/, ''),
        parts.model,
        parts.structured,
        parts.templateSha256,
        parts.decoding,
        parts.prompt,
        parts.response,
        parts.order,
      ]),
    )
    .digest('hex');
}

/** The judgement cache: a reply cache of judgements. */
export class JudgementCache extends ReplyCache<CachedJudgement> {
  constructor(dir: string) {
    super(dir, 'judgements');
  }
}
