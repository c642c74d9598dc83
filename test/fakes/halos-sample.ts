/**
 * A stand-in for HALOs' `python -m train.sample MODEL --datasets … --output_file OUT
 * --num_samples_per_prompt K`, writing what HALOs writes: one JSON array of {prompt_id, prompt,
 * output, sample_id, type, dataset}, with integer prompt_ids counted from 0 in every run.
 * Its "dataset" is the JSON array of prompts alignloop hands it ({{prompts.json}}).
 *
 *   --jsonl               write alignloop's JSONL instead (string prompt_id, no prompt)
 *   --unknown-prompt      add a record for a prompt that was never asked
 *   --exit-code N         print an error and exit N at once
 *   --no-output           exit 0 without writing anything
 *   --sleep-ms N          take this long (a long sampling run)
 *   --truncate-first      mark the first sample of each prompt finish_reason "length"
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const flag = (name: string) => process.argv.includes(name);

// Answers of different lengths and content, so a reward model tells them apart.
const FILLER =
  'Here is a careful, step by step explanation with an example. First, consider the question itself. Then, weigh the evidence and note any caveats. Finally, summarise clearly and kindly for the reader.';

async function main(): Promise<void> {
  const model = process.argv[2];
  console.log(`halos-sample: model ${model}`);
  const code = arg('--exit-code');
  if (code) {
    console.error('halos-sample: error: unrecognized arguments: --bogus');
    process.exit(Number(code));
  }
  if (!fs.existsSync(path.join(model, 'config.json'))) {
    console.error(`halos-sample: ${model} is not a model folder`);
    process.exit(2);
  }
  const prompts = JSON.parse(fs.readFileSync(arg('--datasets')!, 'utf8')) as { prompt_id: string; prompt: { role: string; content: string }[] }[];
  const k = Number(arg('--num_samples_per_prompt') ?? 2);
  const out = arg('--output_file')!;
  const sleep = Number(arg('--sleep-ms') ?? 0);
  for (let i = 0; i < prompts.length; i++) {
    if (sleep) await new Promise((r) => setTimeout(r, sleep / prompts.length));
    console.log(`halos-sample: ${i + 1}/${prompts.length} prompts`);
  }
  if (flag('--no-output')) return;
  const records: Record<string, unknown>[] = [];
  prompts.forEach((p, i) => {
    for (let s = 0; s < k; s++) {
      const output = `${path.basename(model)} answer ${s} to ${p.prompt.at(-1)!.content.slice(0, 30)} ${FILLER.slice(0, 60 * s)}`.trim();
      const finish = flag('--truncate-first') && s === 0 ? { finish_reason: 'length' } : {};
      records.push(
        flag('--jsonl')
          ? { prompt_id: p.prompt_id, sample_id: s, output, ...finish }
          : { prompt_id: i, prompt: p.prompt, output, sample_id: s, type: 'sample', dataset: 'alignloop', ...finish },
      );
    }
  });
  if (flag('--unknown-prompt'))
    records.push({ prompt_id: 0, prompt: [{ role: 'user', content: 'a prompt nobody asked' }], output: 'x', sample_id: 0, type: 'sample' });
  fs.writeFileSync(out, flag('--jsonl') ? records.map((r) => JSON.stringify(r)).join('\n') + '\n' : JSON.stringify(records, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
