/**
 * The `command` sampler: runs an offline sampler (HALOs' `train/sample.py`, an in-house script) once
 * per shard as a supervised subprocess, then imports what it wrote. The command gets the shard's
 * prompts as a file and writes its samples to `{{out}}` inside a fresh attempt folder; nothing
 * reaches the samples shard until the whole output has been read and checked.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ProcessFailed, SamplerConfigError } from '../../../config/errors';
import { writeFileAtomic } from '../../artifacts/atomic-file';
import { campaignDir, iterationDir } from '../../artifacts/store';
import { renderArgv, TemplateError } from '../../process/argv-template';
import { reapOrphans, registryDir, Supervised, withLogTail } from '../../process/supervisor';
import { importSamples } from '../import-samples';
import { policyVars } from '../openai/sampler';
import type { CommandSamplerConfig } from './config';
import type { SampleRecord, Sampler } from '../sampler';
import { childEnv, credentialNames } from '../../process/child-env';

const pad = (n: number) => String(n).padStart(3, '0');

export const commandSampler: Sampler<CommandSamplerConfig> = {
  async sample(job) {
    const c = job.settings;
    const vars = policyVars(job);
    const base = path.join(iterationDir(job.artifactsRoot, job.campaignId, job.iteration), 'samples', 'command');
    const attempt = path.join(base, `shard-${pad(job.shard)}.attempt-${process.pid}-${Date.now()}`);
    fs.mkdirSync(attempt, { recursive: true });
    const promptsJson = path.join(attempt, 'prompts.json');
    writeFileAtomic(promptsJson, [JSON.stringify(job.prompts.map((p) => ({ prompt_id: p.prompt_id, prompt: p.prompt })))]);
    const out = path.join(attempt, c.format === 'jsonl' ? 'out.jsonl' : 'out.json');
    let argv: string[];
    try {
      argv = renderArgv(
        c.command,
        {
          ...c.vars,
          ...vars,
          'prompts.jsonl': job.promptsRef.path,
          'prompts.json': promptsJson,
          out,
          shard: String(job.shard),
          samplesPerPrompt: String(c.samplesPerPrompt),
          seed: String(c.seed),
        },
        'sampler.command',
      );
    } catch (e) {
      if (e instanceof TemplateError) throw new SamplerConfigError(e.message);
      throw e;
    }
    const registry = registryDir(campaignDir(job.artifactsRoot, job.campaignId));
    await reapOrphans(registry, c.stopTimeoutSeconds * 1000);
    const log = path.join(base, `shard-${pad(job.shard)}.log`);
    const proc = await Supervised.start({
      argv,
      env: childEnv(job.credentialEnv ?? credentialNames({ sampler: c, labeler: {} }), c),
      log,
      registry,
      label: 'sampler-command',
      setting: 'sampler.command',
    });
    const beat = setInterval(
      () => job.progress({ promptsDone: 0, prompts: job.prompts.length, note: `sampler command running (pid ${proc.pid}, log ${log})` }),
      1000,
    );
    let exit;
    try {
      const cancelled = job.signal
        ? new Promise<'cancelled'>((r) => (job.signal!.aborted ? r('cancelled') : job.signal!.addEventListener('abort', () => r('cancelled'), { once: true })))
        : new Promise<never>(() => undefined);
      const first = await Promise.race([proc.exited, cancelled]);
      if (first === 'cancelled') {
        await proc.stop(c.stopTimeoutSeconds * 1000);
        throw job.signal!.reason ?? new Error('cancelled');
      }
      exit = first;
    } finally {
      clearInterval(beat);
      await proc.cleanUp();
    }
    if (exit.code !== 0) {
      throw new ProcessFailed(
        withLogTail(`sampler.command exited ${exit.signal ? `on ${exit.signal}` : `with code ${exit.code}`} (${argv[0]}, shard ${job.shard})`, log),
      );
    }
    if (!fs.existsSync(out)) throw new ProcessFailed(withLogTail(`sampler.command exited 0 but wrote nothing at {{out}} (${out})`, log));
    const imported = await importSamples(out, c.format, job.prompts);

    const records: SampleRecord[] = [];
    const skipped: Record<string, number> = {};
    const failed: Record<string, number> = {};
    const dropped: Record<string, number> = {};
    const truncatedRecords: SampleRecord[] = [];
    let promptsSampled = 0;
    const generator = `command:${path.basename(argv[0])}@${vars['policy.sha']}`;
    for (const p of job.prompts) {
      const got = imported.byPrompt.get(p.prompt_id) ?? [];
      if (got.length === 0) {
        skipped.not_in_output = (skipped.not_in_output ?? 0) + 1;
        continue;
      }
      let kept = 0;
      got.forEach((g, s) => {
        if (!g.output.trim()) return void (failed.empty_output = (failed.empty_output ?? 0) + 1);
        const record: SampleRecord = {
          ...g.extra,
          prompt_id: p.prompt_id,
          sample_id: s,
          prompt: p.prompt,
          output: g.output,
          iteration: job.iteration,
          generator,
          truncated: g.truncated,
          imported_format: imported.format,
        };
        if (g.truncated && c.dropTruncated) {
          dropped.truncated = (dropped.truncated ?? 0) + 1;
          return void truncatedRecords.push(record);
        }
        records.push(record);
        kept++;
      });
      if (kept > 0) promptsSampled++;
      else skipped.no_usable_sample = (skipped.no_usable_sample ?? 0) + 1;
    }
    return { records, promptsSampled, skipped, samplesFailed: failed, samplesDropped: dropped, truncatedRecords };
  },
};
