/**
 * npm run bench:cache — what a shard pays to open a reply cache: a judge cache of BENCH_CACHE_MB
 * (default 124) MB of judgements like real ones (~1.2 kB each: key, raw reply, tokens, time), written
 * by 8 worker processes, then opened by a fresh process (as every shard start does). Reports the
 * open time, the memory it holds after a GC (heap and RSS growth) and the time of 1,000 lookups.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { JudgementCache } from '../activities/judge/cache';

const MB = 1e6;

function generate(dir: string, bytes: number): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const keys: string[] = [];
  const fds = Array.from({ length: 8 }, (_, w) => fs.openSync(path.join(dir, `judgements-benchhost-${1000 + w}-abcdef.jsonl`), 'w'));
  let written = 0;
  for (let i = 0; written < bytes; i++) {
    const key = createHash('sha256').update(String(i)).digest('hex');
    keys.push(key);
    const raw = `{"reasoning": "${'The response answers the question directly and cites the relevant facts. '.repeat(14)}", "score": ${i % 10}}`;
    const line = JSON.stringify({ key, raw, score: i % 10, status: 'ok', promptTokens: 612, completionTokens: 240, at: new Date(0).toISOString() }) + '\n';
    fs.writeSync(fds[i % fds.length], line);
    written += Buffer.byteLength(line);
  }
  fds.forEach((fd) => fs.closeSync(fd));
  return keys;
}

function open(dir: string): void {
  const gc = (globalThis as { gc?: () => void }).gc!;
  const keys = JSON.parse(fs.readFileSync(path.join(dir, '..', 'keys.json'), 'utf8')) as string[];
  gc();
  const before = process.memoryUsage();
  const t0 = performance.now();
  const cache = new JudgementCache(dir);
  const openMs = performance.now() - t0;
  gc();
  const after = process.memoryUsage();
  const t1 = performance.now();
  let hits = 0;
  for (let i = 0; i < 1000; i++) if (cache.get(keys[(i * 7919) % keys.length])) hits++;
  const lookupMs = performance.now() - t1;
  console.log(
    JSON.stringify({
      entries: cache.size,
      openMs: Math.round(openMs),
      heapMiB: +((after.heapUsed - before.heapUsed) / 2 ** 20).toFixed(1),
      rssMiB: +((after.rss - before.rss) / 2 ** 20).toFixed(1),
      lookups1000Ms: +lookupMs.toFixed(1),
      hits,
    }),
  );
}

function main(): void {
  if (process.argv[2] === '--open') return open(process.argv[3]);
  const mb = Number(process.env.BENCH_CACHE_MB ?? 124);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'alignloop-bench-cache-'));
  const dir = path.join(root, 'judge-cache');
  const keys = generate(dir, mb * MB);
  fs.writeFileSync(path.join(root, 'keys.json'), JSON.stringify(keys));
  console.log(
    `judge cache: ${keys.length} entries, ${(keys.length ? fs.readdirSync(dir).reduce((a, f) => a + (fs.statSync(path.join(dir, f)).size || 0), 0) : 0) / MB} MB in 8 files`,
  );
  const r = spawnSync(process.execPath, ['--expose-gc', __filename, '--open', dir], { encoding: 'utf8' });
  process.stdout.write(r.stdout + r.stderr);
  fs.rmSync(root, { recursive: true, force: true });
}

main();
