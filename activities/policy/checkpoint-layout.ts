/** What makes a folder a usable Hugging Face checkpoint: checked before alignloop accepts a trainer's output. */
import * as fs from 'node:fs';
import * as path from 'node:path';

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer.model', 'vocab.json', 'vocab.txt', 'spiece.model'];

/** The problems with `dir` as a checkpoint (empty: valid). */
export function layoutProblems(dir: string): string[] {
  if (!fs.existsSync(dir)) return [`${dir} does not exist`];
  if (!fs.statSync(dir).isDirectory()) return [`${dir} is not a folder`];
  const files = fs.readdirSync(dir);
  const size = (f: string) => fs.statSync(path.join(dir, f)).size;
  const problems: string[] = [];
  if (!files.includes('config.json')) problems.push('no config.json');
  else {
    try {
      JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    } catch {
      problems.push('config.json is not valid JSON (cut off?)');
    }
  }
  const weights = files.filter((f) => /\.(safetensors|bin)$/.test(f) && !/^(training_args|optimizer|scheduler|rng_state)/.test(f));
  if (weights.length === 0) problems.push('no weights (*.safetensors or *.bin)');
  else for (const w of weights) if (size(w) === 0) problems.push(`${w} is empty`);
  if (!TOKENIZER_FILES.some((t) => files.includes(t))) problems.push(`no tokenizer files (${TOKENIZER_FILES.join(', ')})`);
  return problems;
}

/** The trainer's intermediate checkpoints (HF Trainer's checkpoint-N/ folders) below `dir`, latest first. */
export function intermediateCheckpoints(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const found: { n: number; p: string }[] = [];
  const walk = (d: string, depth: number) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const m = /^checkpoint-(\d+)$/.exec(e.name);
      if (m) found.push({ n: Number(m[1]), p: path.join(d, e.name) });
      else if (depth < 2) walk(path.join(d, e.name), depth + 1);
    }
  };
  walk(dir, 0);
  return found.sort((a, b) => b.n - a.n).map((f) => f.p);
}
