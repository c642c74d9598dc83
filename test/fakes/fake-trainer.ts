/**
 * A stand-in trainer with the argv shapes of the presets (HALOs' launch.py Hydra overrides, `trl
 * dpo --config`, OpenRLHF's --pretrain/--save_path) that writes Hugging Face-layout checkpoints and
 * misbehaves on demand. Run as `node fake-trainer.js <anything the preset passes>`; the launcher
 * words (accelerate launch launch.py, deepspeed --module …) are accepted and skipped. OpenRLHF's flags
 * before (--pretrain, --save_path) and after its 2026-04 rename (--model.model_name_or_path, --ckpt.output_dir).
 *
 * As HALOs (argv with launch.py): launch.py must be in the working directory; the policy loads from
 * ++model.from_checkpoint, else ++model.load_from, else ++model.name_or_path, the reference from
 * load_from, else name_or_path (launch.py), and from_checkpoint needs optimizer.pt and scheduler.pt there;
 * it logs as HALOs does, writes Hydra's run folder (outputs/<date>/ in the working directory unless
 * hydra.run.dir is given) and saves FINAL/ with pytorch_model.bin, optimizer.pt and scheduler.pt.
 *
 * FAKE_TRAINER_MODE (comma-separated):
 *   steps=N, step-ms=M   how long training takes (default 6 steps of 60 ms); a checkpoint-N/ every 2 steps
 *   crash-after=K        exit 1 after step K (leaving checkpoint-K/ when K is even)
 *   exit0-empty          exit 0 without writing anything
 *   partial              write config.json only, exit 0
 *   hang                 print one line, then nothing, forever
 *   new-template         save a chat template other than the model's (a trainer's own default)
 *   weights-mb=N         model.safetensors of N MiB (deterministic), for checkpoint transfers
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
const halos = args.includes('launch.py');
const halosPolicy = hydra('++model.from_checkpoint') ?? hydra('++model.load_from') ?? hydra('++model.name_or_path');
const model =
  flag('--model_name_or_path') ?? yamlValue(configText, 'model_name_or_path') ?? flag('--pretrain') ?? flag('--model.model_name_or_path') ?? halosPolicy;
const reference =
  flag('--ref_pretrain') ?? flag('--ref.model_name_or_path') ?? (halos ? (hydra('++model.load_from') ?? hydra('++model.name_or_path')) : undefined) ?? model;
const data = yamlValue(configText, 'data_files') ?? flag('--dataset') ?? flag('--data.dataset') ?? hydra('train_datasets')?.replace(/^\[|\]$/g, '');
let out = flag('--output_dir') ?? yamlValue(configText, 'output_dir') ?? flag('--save_path') ?? flag('--ckpt.output_dir');
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
  const weights = Buffer.from(createHash('sha256').update(`${digest}:${step}`).digest('hex').repeat(8));
  // weights-mb=N: a checkpoint of realistic size (N MiB, the same bytes for the same data), for transfers.
  const mb = Number(modes.get('weights-mb') ?? 0);
  fs.writeFileSync(path.join(dir, 'model.safetensors'), mb > 0 ? Buffer.alloc(mb * 1024 * 1024, weights) : weights);
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

/** What HALOs' launch.py does before training, as far as its arguments go; exits as it fails. */
function halosStart(): void {
  if (!fs.existsSync('launch.py')) {
    console.error(`python: can't open file '${path.resolve('launch.py')}': [Errno 2] No such file or directory`);
    process.exit(2);
  }
  const runDir =
    hydra('hydra.run.dir') ?? path.join('outputs', new Date().toISOString().slice(0, 10), new Date().toISOString().slice(11, 19).replace(/:/g, '-'));
  fs.mkdirSync(path.join(runDir, '.hydra'), { recursive: true });
  fs.writeFileSync(path.join(runDir, '.hydra', 'overrides.yaml'), args.map((a) => `- ${a}`).join('\n') + '\n');
  console.log(`Loading tokenizer ${hydra('++model.name_or_path') ?? 'None'}`);
  if (!hydra('++model.name_or_path')) {
    console.error("OSError: None is not a local folder and is not a valid model identifier listed on 'https://huggingface.co/models'");
    process.exit(1);
  }
  console.log(`Loading reference model from ${reference}`);
  console.log(`Loading policy from ${model}`);
  const resume = hydra('++model.from_checkpoint');
  if (resume && resume !== 'null') {
    for (const f of ['optimizer.pt', 'scheduler.pt']) {
      if (!fs.existsSync(path.join(resume, f))) {
        console.error(`FileNotFoundError: [Errno 2] No such file or directory: '${path.join(resume, f)}'`);
        process.exit(1);
      }
    }
  }
}

/** HALOs' trainer.save(): weights as pytorch_model.bin, the optimizer state (about twice the weights), the scheduler, metrics.json. */
function halosSaveState(dir: string, steps: number): void {
  const weights = fs.readFileSync(path.join(dir, 'model.safetensors'));
  fs.rmSync(path.join(dir, 'model.safetensors'));
  fs.writeFileSync(path.join(dir, 'pytorch_model.bin'), weights);
  fs.writeFileSync(path.join(dir, 'optimizer.pt'), Buffer.concat([weights, weights]));
  fs.writeFileSync(path.join(dir, 'scheduler.pt'), 'scheduler');
  fs.writeFileSync(path.join(dir, 'metrics.json'), JSON.stringify({ counter: 2 * steps }));
  fs.writeFileSync(path.join(dir, 'special_tokens_map.json'), '{}');
}

async function main(): Promise<void> {
  console.log(`fake-trainer argv: ${JSON.stringify(args)}`);
  if (halos) halosStart();
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
  const weightsOf = (dir: string) => path.join(dir, fs.existsSync(path.join(dir, 'model.safetensors')) ? 'model.safetensors' : 'pytorch_model.bin');
  // As a real trainer: the result depends on the reference's weights, not on where they lie.
  const referenceWeights = reference && fs.existsSync(weightsOf(reference)) ? fs.readFileSync(weightsOf(reference)) : String(reference);
  const digest = createHash('sha256')
    .update(fs.readFileSync(weightsOf(model)))
    .update(fs.readFileSync(data))
    .update(referenceWeights)
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
  if (halos) console.log(`Total training steps: ${steps}`);
  else {
    process.stderr.write('\rLoading weights: 100%|##########| 20/20 [00:00<00:00, 7750.72it/s]\n');
    process.stderr.write('\rTokenizing train dataset: 100%|##########| 64/64 [00:00<00:00, 1316.45 examples/s]\n');
  }
  for (let s = start + 1; s <= steps; s++) {
    await new Promise((r) => setTimeout(r, stepMs));
    const loss = (0.7 - s * 0.05).toFixed(4);
    if (halos) {
      // HALOs' train stats line (train/trainers.py), as long as its real ones.
      const stats = `'rewards_train/chosen': '0.0073105', 'rewards_train/rejected': '-0.00054502', 'rewards_train/margins': '0.0078556', 'logps_train/chosen': '-351.27'`;
      console.log(
        `train stats after ${s} steps: {${stats}, 'loss/train': '${loss}', 'grad_norm': '17.25', 'examples_per_second': '1.2', 'counters/examples': ${2 * s}, 'counters/updates': ${s}}`,
      );
    } else {
      process.stdout.write(`\r ${Math.round((100 * s) / steps)}%|####      | ${s}/${steps} [00:0${s}<00:01, 2.00it/s]`);
      console.log(`\r{'loss': '${loss}', 'learning_rate': '5e-07', 'epoch': '${(s / steps).toFixed(2)}'}`);
    }
    if (!halos && s % 2 === 0) writeCheckpoint(path.join(ckptRoot, `checkpoint-${s}`), s, digest);
    if (s >= crashAfter) {
      markOnce();
      console.error('fake-trainer: RuntimeError: CUDA error: an illegal memory access was encountered (simulated)');
      process.exit(1);
    }
  }
  if (!halos) console.log(`{'train_runtime': '1.2', 'train_loss': '0.55', 'epoch': '1'}`);
  writeCheckpoint(out, steps, digest);
  if (halos) halosSaveState(out, steps);
  process.stderr.write('\rWriting model shards: 100%|##########| 1/1 [00:00<00:00, 647.67it/s]\n');
  console.log(`fake-trainer: saved ${out}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
