import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
export const MODELS = {
  bt: path.join(ROOT, 'examples', 'quickstart', 'reward-model'),
  decoder: path.join(ROOT, 'test', 'fixtures', 'models', 'decoder-rm'),
  tokenTypes: path.join(ROOT, 'test', 'fixtures', 'models', 'encoder-tt'),
  noLogits: path.join(ROOT, 'test', 'fixtures', 'models', 'no-logits'),
};
export const QUICKSTART_PROMPTS = path.join(ROOT, 'examples', 'quickstart', 'prompts.jsonl');

export function tmpDir(prefix = 'alignloop-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Sample records (prompt + output) from the quickstart pools: n prompts x all candidates. */
export function quickstartSamples(n: number, repeat = 1): Record<string, unknown>[] {
  const lines = fs.readFileSync(QUICKSTART_PROMPTS, 'utf8').trim().split('\n').slice(0, n);
  const out: Record<string, unknown>[] = [];
  for (let r = 0; r < repeat; r++) {
    lines.forEach((l, i) => {
      const p = JSON.parse(l);
      p.candidates.forEach((c: string, j: number) => out.push({ prompt_id: `p${r}_${i}`, sample_id: j, prompt: p.prompt, output: c }));
    });
  }
  return out;
}

export function writeJsonl(file: string, records: unknown[]): void {
  fs.writeFileSync(file, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
}
