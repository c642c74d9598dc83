/**
 * trainer.kind: command. Runs HALOs, TRL, OpenRLHF or a custom script as a supervised subprocess:
 * its own process group, its log in the iteration's artifacts, heartbeats carrying the step and loss
 * read from that log, a stalled trainer killed and retried. Its output is accepted only as a valid
 * checkpoint folder (config, weights, tokenizer), moved into place from a fresh attempt folder, and
 * recorded with a manifest of every file and its lineage. Older accepted checkpoints are deleted
 * (trainer.keepCheckpoints) only after this step's completion record is written.
 */
import { Context } from '@temporalio/activity';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, ProcessCrashed, ProcessFailed } from '../../../config/errors';
import { beat } from '../../durable';
import { redact } from '../../../config/redact';
import { sha256File, writeFileAtomic } from '../../artifacts/atomic-file';
import { ChatTemplateFile, readChatTemplate, templateSha } from '../../artifacts/chat-template-file';
import { lifecycle } from '../../lifecycle-log';
import { campaignDir, verifyRef } from '../../artifacts/store';
import { CHECKPOINT_FORMAT, CheckpointDescriptor, describeCheckpoint, readDescriptor, resolvePolicy } from '../../policy/checkpoint-ref';
import { fingerprint } from '../../artifacts/fingerprint';
import { intermediateCheckpoints, layoutProblems } from '../../policy/checkpoint-layout';
import { renderArgv, renderTemplate, TemplateError } from '../../process/argv-template';
import { reapOrphans, registryDir, Supervised, withLogTail } from '../../process/supervisor';
import type { CommandTrainerConfig } from './config';
import { PRESETS } from '../presets';
import { pruneCheckpoints } from '../retention';
import { producedOutsideProblem } from '../checkpoint-subdir';
import { checkpointFiles } from '../checkpoint-files';
import { completeText, emptyProgress, readProgress, StepRate, TrainProgress } from '../progress';
import type { Trainer, TrainJob, TrainOutcome } from '../trainer';
import { childEnv, credentialNames } from '../../process/child-env';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function render(argv: string[], vars: Record<string, string>): string[] {
  try {
    return renderArgv(argv, vars, 'trainer.command');
  } catch (e) {
    if (e instanceof TemplateError) throw new ConfigError('campaign', [e.message]);
    throw e;
  }
}

/** The feedback files beside the native JSONL the iteration hands over. */
function feedbackFiles(jsonl: string): Record<string, string> {
  const dir = path.dirname(jsonl);
  return { 'feedback.jsonl': jsonl, 'feedback.halos': path.join(dir, 'feedback.halos.json'), 'feedback.trl': path.join(dir, 'feedback.trl.jsonl') };
}

/** Reads what the log gained since the last look, and folds it into the progress. */
class LogWatcher {
  private offset = 0;
  private pending = '';
  progress: TrainProgress = emptyProgress();
  lastGrowth = Date.now();

  constructor(private readonly file: string) {
    this.offset = fs.existsSync(file) ? fs.statSync(file).size : 0;
  }

  /** After the trainer exited: what is left without a line end is complete too. */
  flush(): void {
    this.poll();
    this.progress = readProgress(this.progress, this.pending);
    this.pending = '';
  }

  poll(): void {
    let size: number;
    try {
      size = fs.statSync(this.file).size;
    } catch {
      return;
    }
    if (size <= this.offset) return;
    const fd = fs.openSync(this.file, 'r');
    try {
      const len = Math.min(size - this.offset, 1 << 20);
      const buf = Buffer.alloc(len);
      fs.readSync(fd, buf, 0, len, size - len);
      // A redraw cut at the end of a read waits for its end, so `12/40` is never read as `2/40`.
      const { text, rest } = completeText(this.pending, buf.toString('utf8'));
      this.progress = readProgress(this.progress, text);
      this.pending = rest.length > 1 << 16 ? '' : rest;
    } finally {
      fs.closeSync(fd);
    }
    this.offset = size;
    this.lastGrowth = Date.now();
  }
}

async function supervise(proc: Supervised, log: LogWatcher, t: CommandTrainerConfig): Promise<{ code: number | null; signal: string | null }> {
  const ctx = Context.current();
  const rate = new StepRate();
  for (;;) {
    const exit = await Promise.race([proc.exited, sleep(1000).then(() => null)]);
    log.poll();
    const p = log.progress;
    rate.observe(Date.now(), p.step);
    beat({ step: p.step, total: p.total, loss: p.loss, rate: rate.perSecond(), unit: 'step', note: `trainer running (pid ${proc.pid})` });
    if (exit) return exit;
    if (ctx.cancellationSignal.aborted) {
      await proc.stop(t.stopTimeoutSeconds * 1000);
      throw ctx.cancellationSignal.reason ?? new Error('cancelled');
    }
    if (Date.now() - log.lastGrowth > t.stallSeconds * 1000) {
      await proc.stop(t.stopTimeoutSeconds * 1000);
      throw new ProcessCrashed(
        withLogTail(`trainer stalled: no log output for trainer.stallSeconds ${t.stallSeconds} s; killed its process group, the attempt is retried`, proc.log),
      );
    }
  }
}

async function train(job: TrainJob<CommandTrainerConfig>): Promise<TrainOutcome> {
  const t = job.settings;
  const policy = resolvePolicy(job.policy, 'policy checkpoint', 'initial');
  const reference = resolvePolicy(job.reference, 'reference checkpoint', 'initial');
  const current = readDescriptor(job.policy);
  const examples = job.feedback?.count ?? 0;
  if (!job.feedback) {
    // Nothing to train on: the policy stays, with this iteration in its lineage.
    const next = { ...current, parent: job.policy.sha256, iteration: job.iteration, trained: false };
    return {
      written: writeFileAtomic(job.checkpointFile, JSON.stringify(next) + '\n'),
      extra: { trained: false, examples: 0, firstLoss: null, lastLoss: null, resumedFromEpoch: 0, skippedReason: job.emptyReason ?? 'no feedback' },
    };
  }
  verifyRef(job.feedback, 'feedback file');
  // A step that crashed after writing its descriptor, before its completion record: the checkpoint is done.
  const recorded = recordedCheckpoint(job, job.feedback.sha256);
  if (recorded) {
    fs.rmSync(path.join(job.dir, 'attempts'), { recursive: true, force: true });
    lifecycle(`checkpoint of iteration ${job.iteration} was already accepted (${recorded.written.path}): not training again`);
    return recorded;
  }
  const feedback = feedbackFiles(job.feedback.path);
  const registry = registryDir(campaignDir(job.artifactsRoot, job.campaignId));
  // A trainer left running by a worker that was killed holds the GPU: kill it first.
  await reapOrphans(registry, t.stopTimeoutSeconds * 1000);

  const attemptsDir = path.join(job.dir, 'attempts');
  fs.mkdirSync(attemptsDir, { recursive: true });
  const previous = fs
    .readdirSync(attemptsDir)
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .sort((a, b) => a - b);
  const preset = t.preset === 'custom' ? null : PRESETS[t.preset];
  // Resume from the trainer's own latest intermediate checkpoint of an earlier attempt, where the preset can.
  const resumeFrom = preset?.resumeArgs ? (previous.length ? intermediateCheckpoints(path.join(attemptsDir, String(previous.at(-1)))) : [])[0] : undefined;
  const attempt = (previous.at(-1) ?? 0) + 1;
  const attemptDir = path.join(attemptsDir, String(attempt));
  const outputDir = path.join(attemptDir, 'out');
  fs.mkdirSync(outputDir, { recursive: true });

  const vars: Record<string, string> = {
    ...t.vars,
    'policy.path': policy.path,
    'policy.name': policy.name,
    'reference.path': reference.path,
    ...feedback,
    output_dir: outputDir,
    iteration: String(job.iteration),
    method: t.method,
    beta: String(t.beta),
    model: t.model,
    exp_name: `alignloop-iter-${job.iteration}`,
    config: path.join(attemptDir, 'trainer-config.yaml'),
    work_dir: attemptDir,
  };
  if (preset?.configFile) {
    const cfg = preset.configFile(vars);
    vars.config = path.join(attemptDir, cfg.name);
    writeFileAtomic(vars.config, [cfg.text]);
  }
  const subdir = t.checkpointSubdir ?? preset?.checkpointSubdir ?? '.';
  let produced: string;
  try {
    produced = path.resolve(outputDir, renderTemplate(subdir, vars, 'trainer.checkpointSubdir'));
  } catch (e) {
    if (e instanceof TemplateError) throw new ConfigError('campaign', [e.message]);
    throw e;
  }
  // Where the checkpoint will be taken from: refused before training when it is not inside {{output_dir}}.
  const outsideBefore = producedOutsideProblem(outputDir, produced);
  if (outsideBefore) throw new ConfigError('campaign', [outsideBefore]);
  const template = t.command ?? preset!.argv(t, { policyHasOptimizerState: hasOptimizerState(policy.path), policyIsReference: policy.path === reference.path });
  const argv = [...render([...template, ...t.extraArgs], vars), ...(resumeFrom && preset?.resumeArgs ? preset.resumeArgs(resumeFrom) : [])];
  const log = path.join(job.dir, 'trainer.log');
  const watcher = new LogWatcher(log);
  const started = Date.now();
  const proc = await Supervised.start({
    argv,
    env: childEnv(credentialNames(job.campaign), t),
    cwd: t.workDir,
    log,
    registry,
    label: 'trainer',
    setting: 'trainer.command',
  });
  lifecycle(
    `trainer started for iteration ${job.iteration}: ${t.preset} ${t.method}, attempt ${attempt} (pid ${proc.pid}${resumeFrom ? `, resuming from ${resumeFrom}` : ''}); log ${log}`,
  );
  let exit;
  try {
    exit = await supervise(proc, watcher, t);
  } finally {
    await proc.cleanUp();
  }
  watcher.flush();
  if (exit.code !== 0) {
    const what = `trainer exited ${exit.signal ? `on ${exit.signal}` : `with code ${exit.code}`} (attempt ${attempt})`;
    const tries = Context.current().info.attempt;
    if (tries < t.attempts) throw new ProcessCrashed(withLogTail(`${what}; retried${preset?.resumeArgs ? ' from its latest checkpoint-N/' : ''}`, log));
    throw new ProcessFailed(withLogTail(`${what}, ${tries} attempts: see trainer.attempts; fix the cause, then resume`, log));
  }
  // Checked again now that it exists: a symlink the trainer left may point out of {{output_dir}}.
  const outside = producedOutsideProblem(outputDir, produced);
  if (outside) throw new ConfigError('campaign', [outside]);
  const problems = layoutProblems(produced);
  if (problems.length) {
    throw new ProcessFailed(
      withLogTail(
        `trainer exited 0 without a valid checkpoint at ${produced}: ${problems.join('; ')} (the previous checkpoint is untouched; check trainer.checkpointSubdir)`,
        log,
      ),
    );
  }
  const templates = { from: readChatTemplate(policy.path), out: readChatTemplate(produced) };
  const change = templateChange(templates.from, templates.out);
  if (change && t.chatTemplateChange === 'refuse') throw new ProcessFailed(withLogTail(change, log));
  // Move into place only once valid: an attempt folder never becomes the checkpoint half-written.
  // The trainer's intermediate checkpoint-N/ folders (HF Trainer writes them inside output_dir) stay behind.
  for (const d of intermediateCheckpoints(produced)) if (path.dirname(d) === produced) fs.rmSync(d, { recursive: true, force: true });
  const { drop } = checkpointFiles(fs.readdirSync(produced), t.keepOptimizerState);
  for (const f of drop) fs.rmSync(path.join(produced, f), { recursive: true, force: true });
  if (drop.length) lifecycle(`not kept in the checkpoint of iteration ${job.iteration} (trainer state or logs): ${drop.join(', ')}`);
  const accepted = path.join(job.dir, 'checkpoint');
  if (fs.existsSync(accepted)) fs.rmSync(accepted, { recursive: true, force: true }); // this iteration's, never recorded
  fs.renameSync(produced, accepted);
  const extra: TrainOutcome['extra'] = {
    trained: true,
    examples,
    firstLoss: watcher.progress.firstLoss,
    lastLoss: watcher.progress.loss,
    resumedFromEpoch: 0,
    skippedReason: null,
    ...(resumeFrom ? { resumedFrom: resumeFrom } : {}),
  };
  const descriptor = {
    ...describeCheckpoint(accepted, { name: `iter-${job.iteration}`, parent: job.policy.sha256, iteration: job.iteration }),
    method: t.method,
    beta: t.beta,
    reference: { setting: t.reference, sha256: job.reference.sha256 },
    feedback_sha256: job.feedback.sha256,
    trainer: { preset: t.preset, version: preset?.version ?? 'custom', argv: JSON.parse(redact(JSON.stringify(argv))) as string[] },
    wall_seconds: (Date.now() - started) / 1000,
    exit_code: exit.code,
    attempt,
    resumed_from: resumeFrom ?? null,
    chat_template_sha256: { trained_from: templateSha(templates.from.template), out: templateSha(templates.out.template) },
    // What the step returns, so a retry that finds this checkpoint recorded returns it without training again.
    outcome: extra,
  };
  const written = writeFileAtomic(job.checkpointFile, JSON.stringify(descriptor, null, 1) + '\n');
  lifecycle(
    `checkpoint of iteration ${job.iteration} accepted: ${accepted} (${Object.keys(descriptor.files).length} files, ${descriptor.wall_seconds.toFixed(0)} s)`,
  );
  // Intermediate checkpoints are the trainer's, not alignloop's accepted ones: free the disk.
  fs.rmSync(attemptsDir, { recursive: true, force: true });
  return { written, extra };
}

/** This iteration's checkpoint as an earlier attempt accepted it (descriptor and folder intact), or null. */
function recordedCheckpoint(job: TrainJob<CommandTrainerConfig>, feedbackSha: string): TrainOutcome | null {
  let d: CheckpointDescriptor & { feedback_sha256?: string; outcome?: TrainOutcome['extra'] };
  try {
    d = JSON.parse(fs.readFileSync(job.checkpointFile, 'utf8')) as typeof d;
  } catch {
    return null;
  }
  const accepted = path.join(job.dir, 'checkpoint');
  const matches = d.format === CHECKPOINT_FORMAT && d.iteration === job.iteration && d.parent === job.policy.sha256 && d.feedback_sha256 === feedbackSha;
  if (!matches || !d.outcome || d.path !== accepted || !fs.existsSync(accepted) || fingerprint(accepted).sha256 !== d.sha256) return null;
  return { written: { path: job.checkpointFile, sha256: sha256File(job.checkpointFile), bytes: fs.statSync(job.checkpointFile).size }, extra: d.outcome };
}

/** trainer.keepCheckpoints: run only once the step's completion record is written (a crash before it must find the checkpoint it trained from). */
function pruneAfterRecorded(job: TrainJob<CommandTrainerConfig>): void {
  const t = job.settings;
  if (!t.keepCheckpoints || !job.feedback) return;
  const pruned = pruneCheckpoints({
    root: job.artifactsRoot,
    campaignId: job.campaignId,
    iteration: job.iteration,
    keep: t.keepCheckpoints,
    // What the campaign goes on using: the initial policy as reference (reference: previous moves on to this checkpoint).
    protect: t.reference === 'initial' ? [readDescriptor(job.reference)?.path ?? job.reference.path] : [],
  });
  if (pruned.length) lifecycle(`trainer.keepCheckpoints ${t.keepCheckpoints}: deleted ${pruned.length} older checkpoint folder(s): ${pruned.join(', ')}`);
}

const hasOptimizerState = (dir: string) => fs.existsSync(path.join(dir, 'optimizer.pt'));

/** Why a trained checkpoint's chat template is not the one it was trained from, or null. */
function templateChange(a: ChatTemplateFile, b: ChatTemplateFile): string | null {
  if (a.template === b.template) return null;
  const what = (t: typeof a) => (t.template === null ? 'none' : `sha256 ${templateSha(t.template)!.slice(0, 12)} from ${t.source}`);
  return (
    `the trained checkpoint's chat template is not the one it was trained from (${what(a)} -> ${what(b)}): ` +
    'the next iteration would sample with another template than this one trained with (a trainer that applies its own default template does this); ' +
    'give the initial policy the template the trainer uses, or set trainer.chatTemplateChange: allow to accept the change'
  );
}

export const commandTrainer: Trainer<CommandTrainerConfig> = {
  checkpointName: 'checkpoint.json',
  writeInitialPolicy: (_t, config, file) => {
    if (!config.policy) throw new ConfigError('campaign', ['trainer.kind: command needs policy: { path: <initial model folder> }']);
    const problems = layoutProblems(config.policy.path);
    if (problems.length)
      throw new ConfigError('campaign', [`policy.path: ${config.policy.path} is not a checkpoint a trainer can start from: ${problems.join('; ')}`]);
    return writeFileAtomic(file, JSON.stringify(describeCheckpoint(config.policy.path, { name: config.policy.name, parent: null, iteration: null })) + '\n');
  },
  train,
  afterRecorded: pruneAfterRecorded,
};
