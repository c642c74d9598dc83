/**
 * npm run bench:score — `alignloop score` (the real command, in a child process, timed by its
 * own report from first read to atomic write) against the ceiling: the same ORT session running
 * the same pre-tokenized, pre-padded batches in a tight loop. Target: >= 0.9 of the ceiling on the bench model (whose inference dominates, as a real RM's does).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { padBatch } from '../activities/score/batching';
import { defaultTokenizerThreads } from '../activities/score/encode-pool';
import { closeCachedSessions } from '../activities/score/ort-session';
import { readSampleRecords } from '../activities/score/score-file';
import { RewardScorer, responseText } from '../activities/score/scorer';

const ROOT = path.resolve(__dirname, '..', '..');
const REPEAT = Number(process.env.BENCH_REPEAT ?? 1);

/** BENCH_PROVIDERS=cpu,cuda runs every row with each execution provider (cuda needs ORT's CUDA provider libraries). */
const PROVIDERS = (process.env.BENCH_PROVIDERS ?? 'cpu').split(',') as ('cpu' | 'cuda')[];

async function ceiling(modelDir: string, input: string, batchTokens: number, provider: 'cpu' | 'cuda'): Promise<{ ms: number; items: number }> {
  const scorer = await RewardScorer.open({ modelDir, batchTokens, provider });
  const records = await readSampleRecords(input);
  const enc = records.map((r) => scorer.encode({ prompt: r.prompt as never, response: responseText(r.output)! }));
  const plan = scorer.plan(enc);
  const padded = plan.map((b) =>
    padBatch(
      b.map((i) => enc[i].ids),
      scorer.model.padTokenId,
    ),
  );
  await scorer.session.run(padBatch([enc[0].ids], scorer.model.padTokenId)); // warm-up
  let best = Infinity;
  for (let rep = 0; rep < 3; rep++) {
    const copies = padded.map((p) => ({ ...p, inputIds: p.inputIds.slice(), attentionMask: p.attentionMask.slice() }));
    const t = performance.now();
    for (const p of copies) await scorer.session.run(p);
    best = Math.min(best, performance.now() - t);
  }
  return { ms: best, items: records.length };
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alignloop-bench-score-'));
  const input = path.join(dir, 'samples.jsonl');
  const lines = fs.readFileSync(path.join(ROOT, 'examples/quickstart/prompts.jsonl'), 'utf8').trim().split('\n');
  const out: string[] = [];
  for (let r = 0; r < REPEAT; r++)
    lines.forEach((l, i) =>
      JSON.parse(l).candidates.forEach((c: string, j: number) =>
        out.push(JSON.stringify({ prompt_id: `p${r}_${i}`, sample_id: j, prompt: JSON.parse(l).prompt, output: `${c} (variant ${r})` })),
      ),
    );
  fs.writeFileSync(input, out.join('\n') + '\n');
  console.log(
    `${out.length} records, ${os.cpus().length} cores, node ${process.version}, tokenization threads: ${defaultTokenizerThreads()} (the default here)\n`,
  );
  const models: [string, string][] = [
    // The target applies here: a model whose inference dominates, as every real reward model's does
    // (4 x 256x1024 MLP per token is still ~10x lighter per token than MiniLM-L6).
    ['bench model (4 x 256x1024 MLP per token)', path.join(ROOT, 'test/fixtures/models/bench-rm')],
    // Toy fixtures: inference is ~2% of the work, so these rows measure the tokenizer, not alignloop.
    ['toy: quickstart BT reward model (tokenization-bound)', path.join(ROOT, 'examples/quickstart/reward-model')],
    ['toy: decoder-shaped model, chat template (tokenization-bound)', path.join(ROOT, 'test/fixtures/models/decoder-rm')],
  ];
  const cpuRates = new Map<string, number>();
  for (const [name, model] of models)
    for (const provider of PROVIDERS) {
      const batchTokens = 8192;
      const cli = execFileSync(
        process.execPath,
        [
          path.join(ROOT, 'dist/cli/main.js'),
          'score',
          '--model',
          model,
          '--in',
          input,
          '--out',
          path.join(dir, 'out.jsonl'),
          '--batch-tokens',
          String(batchTokens),
          '--provider',
          provider,
        ],
        { encoding: 'utf8' },
      );
      const secs = Number(/in ([\d.]+) s/.exec(cli)![1]);
      const share = /templating\+tokenization ([\d.]+)%/.exec(cli)![1];
      const c = await ceiling(model, input, batchTokens, provider);
      const cliRate = out.length / secs;
      const ceilRate = c.items / (c.ms / 1000);
      if (provider === 'cpu') cpuRates.set(name, cliRate);
      console.log(`${name} [${provider}]`);
      console.log(`  alignloop score : ${cliRate.toFixed(0).padStart(7)} items/s  (${secs.toFixed(2)} s; templating+tokenization ${share}% of its time)`);
      console.log(`  ORT ceiling     : ${ceilRate.toFixed(0).padStart(7)} items/s  (same session, same pre-padded batches, tight loop, best of 3)`);
      console.log(`  ratio           : ${(cliRate / ceilRate).toFixed(2)}  (target >= 0.9 on the bench model)`);
      if (provider !== 'cpu' && cpuRates.has(name)) console.log(`  vs cpu          : ${(cliRate / cpuRates.get(name)!).toFixed(2)}x the CPU path's items/s`);
      console.log('');
    }
  await closeCachedSessions();
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
