/**
 * npm run bench:feedback — 1,000,000 scored samples (8 per prompt, outputs of a few hundred
 * characters) converted with each feedback type, each in its own process so its peak RSS is
 * its own. Baseline in the same run: reading and JSON-parsing every line, nothing else.
 * Targets (issue 3): < 10 s per conversion, peak memory < 1 GB.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { seededRng } from '../activities/feedback/rng';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 1_000_000);
const PER_PROMPT = 8;
const WORDS = 'the model answer should explain each step clearly and cite the relevant facts before it concludes with a short summary'.split(' ');

function generate(file: string): void {
  const rng = seededRng(42);
  const fd = fs.openSync(file, 'w');
  let buf: string[] = [];
  for (let p = 0; p < SAMPLES / PER_PROMPT; p++) {
    const prompt = [{ role: 'user', content: `Question ${p}: ${WORDS.slice(0, 5 + (p % 10)).join(' ')}?` }];
    for (let s = 0; s < PER_PROMPT; s++) {
      const words: string[] = [];
      const n = 40 + rng.int(40);
      for (let w = 0; w < n; w++) words.push(WORDS[rng.int(WORDS.length)]);
      const r = rng.next();
      const reward = r < 0.002 ? null : Math.round(rng.next() * 1000) / 1000;
      buf.push(
        JSON.stringify({
          prompt_id: `p_${p.toString(16).padStart(8, '0')}`,
          sample_id: s,
          prompt,
          output: words.join(' '),
          reward,
          label_status: reward === null ? 'judge_failed' : 'ok',
          iteration: 0,
        }),
      );
      if (buf.length >= 10000) {
        fs.writeSync(fd, buf.join('\n') + '\n');
        buf = [];
      }
    }
  }
  if (buf.length) fs.writeSync(fd, buf.join('\n') + '\n');
  fs.closeSync(fd);
}

function child(args: string[]): { ms: number; maxRssMB: number; out: string } {
  const res = execFileSync(process.execPath, [path.join(__dirname, 'feedback-child.js'), ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  return JSON.parse(res.trim().split('\n').pop()!);
}

function main(): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alignloop-bench-'));
  const input = path.join(dir, 'scored.jsonl');
  const t0 = Date.now();
  generate(input);
  const mb = fs.statSync(input).size / 1e6;
  console.log(`generated ${SAMPLES.toLocaleString()} scored samples (${mb.toFixed(0)} MB) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`cores ${os.cpus().length}, node ${process.version}\n`);
  const base = child(['parse-only', input]);
  console.log(`baseline  read + JSON.parse every line           ${(base.ms / 1000).toFixed(2)} s   peak RSS ${base.maxRssMB.toFixed(0)} MB`);
  const cases: [string, string[]][] = [
    ['pairwise max -> halos', ['--type', 'pairwise', '--mode', 'max', '--threshold', '0.01', '--format', 'halos']],
    ['pairwise random -> trl', ['--type', 'pairwise', '--mode', 'random', '--threshold', '0', '--format', 'trl']],
    ['pairwise min -> jsonl', ['--type', 'pairwise', '--mode', 'min', '--threshold', '0.05', '--format', 'jsonl']],
    ['binary median -> halos', ['--type', 'binary', '--threshold', 'median', '--format', 'halos']],
    ['scalar -> trl', ['--type', 'scalar', '--format', 'trl']],
  ];
  let ok = true;
  for (const [name, args] of cases) {
    const out = path.join(dir, 'out');
    const r = child(['convert', input, out, ...args]);
    const pass = r.ms < 10_000 && r.maxRssMB < 1024;
    ok &&= pass;
    console.log(
      `${name.padEnd(24)} ${(r.ms / 1000).toFixed(2).padStart(6)} s (${(r.ms / base.ms).toFixed(2)}x baseline)   peak RSS ${r.maxRssMB.toFixed(0).padStart(4)} MB   ${r.out}   ${pass ? 'ok' : 'OVER TARGET'}`,
    );
  }
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(`\ntargets: < 10 s and < 1024 MB per conversion: ${ok ? 'met' : 'NOT met'}`);
}

main();
