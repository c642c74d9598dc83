/**
 * A stand-in trainer with the argv shapes of the presets (HALOs' launch.py Hydra overrides, `trl
 * dpo --config`, OpenRLHF's --pretrain/--save_path) that writes Hugging Face-layout checkpoints and
 * misbehaves on demand. Run as `node fake-trainer.js <anything the preset passes>`; the launcher
 * words (accelerate launch launch.py, deepspeed --module …) are accepted and skipped.
 *
 * FAKE_TRAINER_MODE (comma-separated):
 *   steps=N, step-ms=M   how long training takes (default 6 steps of 60 ms); a checkpoint-N/ every 2 steps
 *   crash-after=K        exit 1 after step K (leaving checkpoint-K/ when K is even)
 *   exit0-empty          exit 0 without writing anything
 *   partial              write config.json only, exit 0
 *   hang                 print one line, then nothing, forever
 *   new-template         save a chat template other than the model's (a trainer's own default)
 * FAKE_TRAINER_ONCE=FILE: misbehave only while FILE does not exist (then create it), so a retry succeeds.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const hydra = (key: string) => args.find((a) => a.startsWith(`${key}=`))?.slice(key.length + 1);

function yamlValue(text: string, key: string): string | undefined {
  const m = new RegExp(`^\\s*(?:- )?${key}:\\s*(.+)$`, 'm').exec(text);
  if (!m) return undefined;
  const v = m[1].trim();
  return v.startsWith('"') ? (JSON.parse(v) as string) : v;
}

const configText = flag('--config') ? fs.readFileSync(flag('--config')!, 'utf8') : '';
const model = flag('--model_name_or_path') ?? yamlValue(configText, 'model_name_or_path') ?? flag('--pretrain') ?? hydra('++model.load_from');
const reference = flag('--ref_pretrain') ?? hydra('++model.from_checkpoint') ?? model;
const data = yamlValue(configText, 'data_files') ?? flag('--dataset') ?? hydra('train_datasets')?.replace(/^\[|\]$/g, '');
let out = flag('--output_dir') ?? yamlValue(configText, 'output_dir') ?? flag('--save_path');
if (!out && hydra('++cache_dir')) out = path.join(hydra('++cache_dir')!, hydra('exp_name') ?? 'exp', 'FINAL');
const resume = flag('--resume_from_checkpoint');

const modes = new Map(
  (process.env.FAKE_TRAINER_MODE ?? '')
    .split(',')
    .filter(Boolean)
    .map((m) => {
      const [k, v] = m.split('=');
      return [k, v ?? 'true'] as const;
    }),
);
const once = process.env.FAKE_TRAINER_ONCE;
const misbehave = !once || !fs.existsSync(once);
const markOnce = () => once && fs.writeFileSync(once, String(process.pid));

function writeCheckpoint(dir: string, step: number, digest: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const cfg = JSON.parse(fs.readFileSync(path.join(model!, 'config.json'), 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, fake_trained_steps: step }));
  fs.writeFileSync(path.join(dir, 'model.safetensors'), Buffer.from(createHash('sha256').update(`${digest}:${step}`).digest('hex').repeat(8)));
  fs.writeFileSync(
    path.join(dir, 'tokenizer.json'),
    fs.existsSync(path.join(model!, 'tokenizer.json')) ? fs.readFileSync(path.join(model!, 'tokenizer.json')) : '{}',
  );
  // As transformers 5 saves a tokenizer: the config without the template, the template as chat_template.jinja.
  const tcFile = path.join(model!, 'tokenizer_config.json');
  const tc = fs.existsSync(tcFile) ? (JSON.parse(fs.readFileSync(tcFile, 'utf8')) as Record<string, unknown>) : {};
  const template = fs.existsSync(path.join(model!, 'chat_template.jinja'))
    ? fs.readFileSync(path.join(model!, 'chat_template.jinja'), 'utf8')
    : (tc.chat_template as string | undefined);
  delete tc.chat_template;
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ ...tc, tokenizer_class: 'TokenizersBackend' }));
  // new-template: as a trainer that applies its own default chat template to the tokenizer it saves.
  const own = modes.has('new-template') ? "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}" : template;
  if (own !== undefined) fs.writeFileSync(path.join(dir, 'chat_template.jinja'), own);
}

async function main(): Promise<void> {
  console.log(`fake-trainer argv: ${JSON.stringify(args)}`);
  if (!model || !fs.existsSync(path.join(model, 'config.json'))) {
    console.error(`fake-trainer: error: model ${model} has no config.json`);
    process.exit(2);
  }
  if (!out) {
    console.error('fake-trainer: error: no output folder in the arguments');
    process.exit(2);
  }
  if (!data || !fs.existsSync(data)) {
    console.error(`fake-trainer: error: dataset ${data} not found`);
    process.exit(2);
  }
  const digest = createHash('sha256')
    .update(fs.readFileSync(path.join(model, 'model.safetensors')))
    .update(fs.readFileSync(data))
    .update(String(reference))
    .digest('hex');
  if (misbehave && modes.has('exit0-empty')) {
    markOnce();
    return;
  }
  if (misbehave && modes.has('partial')) {
    markOnce();
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, 'config.json'), '{}');
    return;
  }
  if (misbehave && modes.has('hang')) {
    markOnce();
    console.log('fake-trainer: loading model…');
    setInterval(() => undefined, 1 << 30);
    return;
  }
  const steps = Number(modes.get('steps') ?? 6);
  const stepMs = Number(modes.get('step-ms') ?? 60);
  const crashAfter = misbehave && modes.has('crash-after') ? Number(modes.get('crash-after')) : Infinity;
  const ckptRoot = path.basename(out) === 'FINAL' ? path.dirname(out) : out;
  let start = 0;
  if (resume) {
    start = Number(/checkpoint-(\d+)/.exec(resume)?.[1] ?? 0);
    console.log(`fake-trainer: resuming from ${resume} at step ${start}`);
  }
  // What TRL 1.x on transformers 5 prints: other tqdm bars around the training one, values quoted.
  process.stderr.write('\rLoading weights: 100%|##########| 20/20 [00:00<00:00, 7750.72it/s]\n');
  process.stderr.write('\rTokenizing train dataset: 100%|##########| 64/64 [00:00<00:00, 1316.45 examples/s]\n');
  for (let s = start + 1; s <= steps; s++) {
    await new Promise((r) => setTimeout(r, stepMs));
    process.stdout.write(`\r ${Math.round((100 * s) / steps)}%|####      | ${s}/${steps} [00:0${s}<00:01, 2.00it/s]`);
    console.log(`\r{'loss': '${(0.7 - s * 0.05).toFixed(4)}', 'learning_rate': '5e-07', 'epoch': '${(s / steps).toFixed(2)}'}`);
    if (s % 2 === 0) writeCheckpoint(path.join(ckptRoot, `checkpoint-${s}`), s, digest);
    if (s >= crashAfter) {
      markOnce();
      console.error('fake-trainer: RuntimeError: CUDA error: an illegal memory access was encountered (simulated)');
      process.exit(1);
    }
  }
  console.log(`{'train_runtime': '1.2', 'train_loss': '0.55', 'epoch': '1'}`);
  writeCheckpoint(out, steps, digest);
  process.stderr.write('\rWriting model shards: 100%|##########| 1/1 [00:00<00:00, 647.67it/s]\n');
  console.log(`fake-trainer: saved ${out}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
