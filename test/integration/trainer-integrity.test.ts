/**
 * The command trainer never moves or deletes what is not its own: a checkpointSubdir outside
 * {{output_dir}} is refused (validate and run time), and older checkpoints are pruned only after the
 * training step's completion record is written, so a crash in between leaves a step that a retry
 * completes. The train activity runs in Temporal's activity context (MockActivityEnvironment: no
 * server needed), starting test/fakes/fake-trainer.ts as a real subprocess.
 */
import { DefaultLogger } from '@temporalio/worker';
import { MockActivityEnvironment } from '@temporalio/testing';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sha256File } from '../../activities/artifacts/atomic-file';
import { FileRef, iterationDir, markComplete } from '../../activities/artifacts/store';
import { refOf } from '../../activities/durable';
import { createTrainActivities } from '../../activities/queues/train';
import { commandTrainer } from '../../activities/trainers/command/trainer';
import type { CommandTrainerConfig } from '../../activities/trainers/command/config';
import type { TrainJob } from '../../activities/trainers/trainer';
import { loadCampaign } from '../../activities/campaign/load';
import type { CampaignConfig } from '../../activities/campaign/schema';
import { ROOT, tmpDir } from '../helpers/paths';
import { writeCampaign } from '../helpers/temporal';

jest.setTimeout(120_000);

const FAKE_TRAINER = path.join(ROOT, 'dist', 'test', 'fakes', 'fake-trainer.js');
const FAKE_HALOS = path.join(ROOT, 'dist', 'test', 'fakes', 'halos-sample.js');
const dir = tmpDir('alignloop-trainer-integrity-');

function modelFolder(name: string): string {
  const d = path.join(dir, name);
  fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify({ model_type: 'llama' }));
  fs.writeFileSync(path.join(d, 'model.safetensors'), Buffer.alloc(256, 3));
  fs.writeFileSync(path.join(d, 'tokenizer.json'), '{"model": {}}');
  fs.writeFileSync(path.join(d, 'tokenizer_config.json'), JSON.stringify({ chat_template: "{% for m in messages %}{{ m['content'] }}\n{% endfor %}" }));
  return d;
}

const customTrainer = (more: string) =>
  `{ kind: command, preset: custom, method: dpo, reference: previous, command: ${JSON.stringify([
    'node',
    FAKE_TRAINER,
    '--model_name_or_path',
    '{{policy.path}}',
    '--dataset',
    '{{feedback.trl}}',
    '--output_dir',
    '{{output_dir}}',
  ])}${more} }`;

function campaignFile(name: string, trainer: string): string {
  const policy = modelFolder(`${name}-policy`);
  const sampler = `{ kind: command, command: ${JSON.stringify(['node', FAKE_HALOS, '{{policy.path}}', '--datasets', '{{prompts.json}}', '--output_file', '{{out}}'])}, samplesPerPrompt: 3 }`;
  return writeCampaign(dir, name, {
    iterations: 3,
    perIteration: 8,
    sampler,
    trainer,
    feedback: '{ type: pairwise, mode: max, threshold: 0, seed: 1 }',
    extra: `policy: { path: ${policy} }`,
  });
}

/** A campaign ready to train: its config, initial policy record and a feedback file. */
function campaign(name: string, trainer: string): { config: CampaignConfig; initial: FileRef; feedback: FileRef } {
  const { config } = loadCampaign(campaignFile(name, trainer));
  const initial = refOf(
    commandTrainer.writeInitialPolicy(config.trainer as CommandTrainerConfig, config, path.join(config.artifacts.root, name, 'initial', 'checkpoint.json')),
    1,
  );
  const fb = path.join(dir, `${name}-feedback`, 'feedback.jsonl');
  fs.mkdirSync(path.dirname(fb), { recursive: true });
  const line = JSON.stringify({ prompt: 'p', chosen: 'a', rejected: 'b' }) + '\n';
  fs.writeFileSync(fb, line);
  fs.writeFileSync(path.join(path.dirname(fb), 'feedback.trl.jsonl'), line);
  return { config, initial, feedback: { path: fb, sha256: sha256File(fb), bytes: line.length, count: 1 } };
}

function trainInput(c: { config: CampaignConfig; feedback: FileRef }, name: string, iteration: number, policy: FileRef) {
  return { config: c.config, campaignId: name, iteration, feedback: c.feedback, emptyReason: null, policy, reference: policy, prompts: [] };
}

/** Runs fn in an activity context (heartbeats, attempt 1), as a worker would. */
function inActivity<R>(fn: () => Promise<R>): Promise<R> {
  return new MockActivityEnvironment(undefined, { logger: new DefaultLogger('WARN') }).run(fn);
}

/** What the train activity hands the trainer, as trainPolicy builds it. */
function jobOf(c: { config: CampaignConfig; feedback: FileRef }, name: string, iteration: number, policy: FileRef): TrainJob<CommandTrainerConfig> {
  const dir = trainDir(c, name, iteration);
  return {
    settings: c.config.trainer as CommandTrainerConfig,
    campaign: c.config,
    artifactsRoot: c.config.artifacts.root,
    campaignId: name,
    iteration,
    dir,
    checkpointFile: path.join(dir, 'checkpoint.json'),
    feedback: c.feedback,
    emptyReason: null,
    policy,
    reference: policy,
    prompts: [],
  };
}

const trainDir = (c: { config: CampaignConfig }, name: string, i: number) => path.join(iterationDir(c.config.artifacts.root, name, i), 'train');
const trainerRuns = (c: { config: CampaignConfig }, name: string, i: number) =>
  fs.readFileSync(path.join(trainDir(c, name, i), 'trainer.log'), 'utf8').match(/fake-trainer argv:/g)?.length ?? 0;

describe('trainer.checkpointSubdir outside {{output_dir}}', () => {
  test('validate refuses an absolute or .. path, naming the setting', () => {
    for (const bad of ['../my-model', '/srv/models/mine', '{{policy.path}}']) {
      expect(() => loadCampaign(campaignFile('subdir-bad', customTrainer(`, checkpointSubdir: "${bad}"`)))).toThrow(
        /trainer.checkpointSubdir: .* is not inside \{\{output_dir\}\}/,
      );
    }
  });

  test("at run time (a var pointing at the user's own model folder): refused before training, the folder and its checkpoint-N/ untouched", async () => {
    const mine = modelFolder('my-model');
    fs.mkdirSync(path.join(mine, 'checkpoint-500'));
    fs.writeFileSync(path.join(mine, 'checkpoint-500', 'optimizer.pt'), 'state');
    const c = campaign('subdir-run', customTrainer(`, checkpointSubdir: "{{mine}}", vars: { mine: ${JSON.stringify(mine)} }`));
    await expect(inActivity(() => createTrainActivities().trainPolicy(trainInput(c, 'subdir-run', 0, c.initial)))).rejects.toThrow(
      /trainer.checkpointSubdir renders to .*my-model, which is not inside the trainer's output folder/,
    );
    expect(fs.readFileSync(path.join(mine, 'checkpoint-500', 'optimizer.pt'), 'utf8')).toBe('state');
    expect(fs.existsSync(path.join(mine, 'model.safetensors'))).toBe(true);
    expect(fs.existsSync(path.join(trainDir(c, 'subdir-run', 0), 'checkpoint'))).toBe(false);
    expect(fs.existsSync(path.join(trainDir(c, 'subdir-run', 0), 'trainer.log'))).toBe(false); // no GPU hours spent first
  });
});

describe('keepCheckpoints prunes only after the completion record', () => {
  test('a crash between the checkpoint and its record: nothing pruned yet, the retry returns the checkpoint without training again, then prunes', async () => {
    const name = 'crash-record';
    const c = campaign(name, customTrainer(', keepCheckpoints: 1'));
    const acts = createTrainActivities();
    const train = (input: ReturnType<typeof trainInput>) => inActivity(() => acts.trainPolicy(input));
    const folder = (i: number) => path.join(trainDir(c, name, i), 'checkpoint');
    const r0 = await train(trainInput(c, name, 0, c.initial));

    // Iteration 1 gets as far as the trainer's own work (descriptor written), then the worker dies: no completion record.
    const job1 = jobOf(c, name, 1, r0.checkpoint);
    const out1 = await inActivity(() => commandTrainer.train(job1));
    expect(fs.existsSync(`${job1.checkpointFile}.done.json`)).toBe(false);
    expect(fs.existsSync(folder(0))).toBe(true); // what iteration 1 trained from is still there

    const r1 = await train(trainInput(c, name, 1, r0.checkpoint));
    expect(r1.checkpoint.sha256).toBe(out1.written.sha256);
    expect(r1).toMatchObject({ trained: true, lastLoss: out1.extra.lastLoss, firstLoss: out1.extra.firstLoss });
    expect(trainerRuns(c, name, 1)).toBe(1);
    expect(fs.existsSync(`${job1.checkpointFile}.done.json`)).toBe(true);
    expect([fs.existsSync(folder(0)), fs.existsSync(folder(1))]).toEqual([false, true]);
    expect(fs.existsSync(path.join(trainDir(c, name, 0), 'checkpoint.pruned.json'))).toBe(true);

    // Iteration 2 crashes right after its record: the retry finds it complete and finishes the pruning.
    const job2 = jobOf(c, name, 2, r1.checkpoint);
    const out2 = await inActivity(() => commandTrainer.train(job2));
    markComplete(refOf(out2.written, 1), out2.extra);
    expect(fs.existsSync(folder(1))).toBe(true);
    const r2 = await train(trainInput(c, name, 2, r1.checkpoint));
    expect(r2.checkpoint.sha256).toBe(out2.written.sha256);
    expect([fs.existsSync(folder(1)), fs.existsSync(folder(2))]).toEqual([false, true]);
    expect(trainerRuns(c, name, 2)).toBe(1);
  });

  test('a recorded descriptor whose folder changed is not returned: the step trains again', async () => {
    const name = 'changed';
    const c = campaign(name, customTrainer(''));
    const job = jobOf(c, name, 0, c.initial);
    await inActivity(() => commandTrainer.train(job));
    fs.writeFileSync(path.join(trainDir(c, name, 0), 'checkpoint', 'model.safetensors'), 'half-written');
    const r = await inActivity(() => createTrainActivities().trainPolicy(trainInput(c, name, 0, c.initial)));
    expect(trainerRuns(c, name, 0)).toBe(2);
    expect(fs.readFileSync(path.join(trainDir(c, name, 0), 'checkpoint', 'model.safetensors'), 'utf8')).not.toBe('half-written');
    expect(r.checkpoint.sha256).toBe(sha256File(job.checkpointFile));
  });
});
