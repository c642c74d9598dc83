/**
 * Runs a verifier over one file of samples: the samples go to {{in}}, the program runs supervised (its own
 * process group, a log file, the per-host registry so a killed worker's verifier is reaped, a timeout),
 * and its verdicts in {{out}} are checked before any becomes a reward. The composite labeler runs its
 * verifier members through this too.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ProcessFailed } from '../../../config/errors';
import { sha256File, writeFileAtomic, WrittenFile } from '../../artifacts/atomic-file';
import { childEnv } from '../../process/child-env';
import { renderArgv } from '../../process/argv-template';
import { reapOrphans, registryDir, Supervised, withLogTail } from '../../process/supervisor';
import { readSampleRecords } from '../../score/score-file';
import { responseText } from '../../score/scorer';
import type { VerifierConfig } from './config';
import { parseVerdicts, VerdictError } from './verdicts';

export interface VerifierRun {
  /** The settings block's place in the campaign file, for messages (labeler, labeler.members[2].labeler). */
  setting: string;
  campaignDir: string;
  /** Where this run's input, output and log go. */
  workDir: string;
  /** Variables the campaign names as credentials: withheld from the verifier. */
  credentials: string[];
  heartbeat: (details: unknown) => void;
}

export interface VerifiedFile extends WrittenFile {
  items: number;
  labelled: number;
  passed: number;
  failed: number;
  unlabelled: Record<string, number>;
}

/** What identifies a verifier in the lineage: its argv (as written) and the sha256 of every argument that names a file. */
export function verifierIdentity(l: VerifierConfig): { argv: string[]; files: Record<string, string> } {
  const files: Record<string, string> = {};
  for (const a of l.command) {
    if (a.includes('{{')) continue;
    const p = path.resolve(l.workDir ?? '.', a);
    try {
      if (fs.statSync(p).isFile()) files[a] = sha256File(p);
    } catch {
      /* not a file */
    }
  }
  return { argv: l.command, files };
}

/** Scores `samplesFile` into `outFile` (the input records plus reward, label_status, verifier_pass), atomically. */
export async function verifyFile(l: VerifierConfig, samplesFile: string, outFile: string, run: VerifierRun): Promise<VerifiedFile> {
  const records = await readSampleRecords(samplesFile);
  const verdicts = records.length === 0 ? [] : await runVerifier(l, records, run);
  let labelled = 0;
  let passed = 0;
  let failed = 0;
  const unlabelled: Record<string, number> = {};
  const written = writeFileAtomic(
    outFile,
    records.map((r, i) => {
      const v = verdicts[i];
      if (v.reward === null) unlabelled.verifier_error = (unlabelled.verifier_error ?? 0) + 1;
      else labelled++;
      if (v.pass === true) passed++;
      if (v.pass === false) failed++;
      return (
        JSON.stringify({
          ...r,
          reward: v.reward,
          label_status: v.reward === null ? 'verifier_error' : 'ok',
          ...(v.pass !== null ? { verifier_pass: v.pass } : {}),
          ...(v.error !== null ? { label_error: v.error } : {}),
        }) + '\n'
      );
    }),
  );
  return { ...written, items: records.length, labelled, passed, failed, unlabelled };
}

async function runVerifier(l: VerifierConfig, records: Record<string, unknown>[], run: VerifierRun) {
  fs.mkdirSync(run.workDir, { recursive: true });
  const inFile = path.join(run.workDir, 'in.jsonl');
  const outFile = path.join(run.workDir, 'out.jsonl');
  const log = path.join(run.workDir, 'verifier.log');
  fs.rmSync(outFile, { force: true });
  writeFileAtomic(
    inFile,
    records.map(
      (r, index) => JSON.stringify({ index, prompt_id: r.prompt_id, sample_id: r.sample_id, prompt: r.prompt, output: responseText(r.output) }) + '\n',
    ),
  );
  const registry = registryDir(run.campaignDir);
  await reapOrphans(registry, l.stopTimeoutSeconds * 1000);
  const setting = `${run.setting}.command`;
  const proc = await Supervised.start({
    argv: renderArgv(l.command, { in: inFile, out: outFile }, setting),
    env: childEnv(run.credentials, l),
    cwd: l.workDir,
    log,
    registry,
    label: 'verifier',
    setting,
  });
  const started = Date.now();
  let exit: Awaited<typeof proc.exited> | null = null;
  try {
    while (exit === null) {
      exit = await Promise.race([proc.exited, new Promise<null>((r) => setTimeout(() => r(null), 1000))]);
      run.heartbeat({ verifier: 'running', pid: proc.pid, seconds: Math.round((Date.now() - started) / 1000) });
      if (exit === null && Date.now() - started > l.timeoutSeconds * 1000) {
        await proc.stop(l.stopTimeoutSeconds * 1000);
        throw new ProcessFailed(
          withLogTail(
            `${run.setting}: the verifier did not finish ${records.length} samples within ${run.setting}.timeoutSeconds (${l.timeoutSeconds} s); its process group was killed. Fix it or raise the timeout, then resume`,
            log,
          ),
        );
      }
    }
  } finally {
    await proc.cleanUp();
  }
  if (exit.code !== 0)
    throw new ProcessFailed(
      withLogTail(
        `${run.setting}: the verifier exited ${exit.signal ? `on ${exit.signal}` : `with code ${exit.code}`} on ${records.length} samples; fix it, then resume`,
        log,
      ),
    );
  if (!fs.existsSync(outFile)) throw new ProcessFailed(withLogTail(`${run.setting}: the verifier exited 0 but wrote nothing to {{out}} (${outFile})`, log));
  let verdicts;
  try {
    verdicts = parseVerdicts(fs.readFileSync(outFile, 'utf8'), records.length, l);
  } catch (e) {
    if (!(e instanceof VerdictError)) throw e;
    throw new ProcessFailed(
      withLogTail(`${run.setting}: the verifier's output ${outFile} is not valid: ${e.message}; docs/composite.md says what it must write`, log),
    );
  }
  const errors = verdicts.filter((v) => v.reward === null).length;
  if (errors > l.maxUnlabelledShare * records.length)
    throw new ProcessFailed(
      withLogTail(
        `${run.setting}: the verifier answered "error" for ${errors} of ${records.length} samples, above ${run.setting}.maxUnlabelledShare (${l.maxUnlabelledShare}); first: ${verdicts.find((v) => v.error)?.error}`,
        log,
      ),
    );
  return verdicts;
}
