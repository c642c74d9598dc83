/**
 * Never pay twice: every completed judgement is appended (and fsync'd) as it arrives, keyed by
 * (judge model, template hash, decoding parameters, prompt, response, order). Each process appends
 * to its own file in the cache folder; all files are read at start, so a retried shard, a restarted
 * worker, or the same text in a later iteration reads the judgement back instead of buying it again.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface CachedJudgement {
  key: string;
  score: number | null;
  status: string;
  raw: string;
  promptTokens: number;
  completionTokens: number;
  at: string;
}

export function judgementKey(parts: { model: string; templateSha256: string; decoding: Record<string, unknown>; prompt: unknown; response: string; order: string }): string {
  return createHash('sha256').update(JSON.stringify([parts.model, parts.templateSha256, parts.decoding, parts.prompt, parts.response, parts.order])).digest('hex');
}

export class JudgementCache {
  private readonly entries = new Map<string, CachedJudgement>();
  private fd: number | null = null;
  private readonly file: string;

  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.jsonl'))) {
      for (const line of fs.readFileSync(path.join(dir, f), 'utf8').split('\n')) {
        if (!line) continue;
        try {
          const e = JSON.parse(line) as CachedJudgement;
          this.entries.set(e.key, e);
        } catch { /* torn last line of a killed writer */ }
      }
    }
    this.file = path.join(dir, `judgements-${os.hostname()}-${process.pid}-${randomBytes(3).toString('hex')}.jsonl`);
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): CachedJudgement | undefined {
    return this.entries.get(key);
  }

  put(e: CachedJudgement): void {
    if (this.fd === null) this.fd = fs.openSync(this.file, 'a');
    fs.writeSync(this.fd, JSON.stringify(e) + '\n');
    fs.fsyncSync(this.fd);
    this.entries.set(e.key, e);
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}
