/** Starting campaigns: `validate`, `start`, `run`. */
import { SEARCH_ATTRIBUTES } from '../../config/search-attributes';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Command } from 'commander';
import * as path from 'node:path';
import type { CampaignConfig, IterationSummary } from '../../activities/types';
import { EXIT, UserError } from '../../config/errors';
import { QUEUES, ROLES } from '../../config/queues';
import type { CampaignStatus } from '../../workflows/messages';
import { recordCampaignOwner, refuseForeignFolder } from '../campaign-folder';
import { campaignIdOf, exitWith, info, out, temporalClient } from '../context';
import { progressLine, rootCause, summaryTable } from '../progress';
import { iterationStatus } from './inspect';
import { printable } from '../terminal-text';
import { trainingProgress } from '../snapshot';

/** The campaign file, parsed once and checked in depth (prompts, model, endpoint) before any workflow exists. */
async function checkedCampaign(file: string): Promise<CampaignConfig> {
  const { loadCampaign, preflight } = await import('../../activities/campaign/load');
  const { config } = loadCampaign(file);
  await preflight(file, config, { warn: info });
  return config;
}

async function validate(file: string): Promise<number> {
  const c = await checkedCampaign(file);
  out(
    `ok: ${c.name}: ${c.iterations} iterations x ${c.prompts.perIteration} prompts, ${c.sampler.kind} sampler (${c.sampler.samplesPerPrompt}/prompt), ` +
      `${c.labeler.kind} labeler, ${c.feedback.type} feedback, ${c.trainer.kind} ${c.trainer.method} trainer`,
  );
  return 0;
}

/**
 * Are alignloop's search attributes registered on this namespace? The embedded server registers them
 * at start; on another cluster they are added when this client may (operator service), else the
 * campaign runs without them (a warning): upserting an unregistered attribute fails workflow tasks.
 */
async function searchAttributesReady(c: Client): Promise<boolean> {
  const namespace = c.options.namespace;
  const wanted = Object.values(SEARCH_ATTRIBUTES);
  try {
    const r = await c.connection.operatorService.listSearchAttributes({ namespace });
    const missing = wanted.filter((a) => !(a.name in (r.customAttributes ?? {})));
    if (missing.length === 0) return true;
    // IndexedValueType: 2 = KEYWORD, 3 = INT.
    await c.connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((a) => [a.name, a.type === 'INT' ? 3 : 2])),
    });
    return true;
  } catch (e) {
    info(
      `warning: cannot register alignloop's search attributes on namespace ${namespace} (${(e as Error).message.split('\n')[0]}); ` +
        `the campaign runs without them (no --query filtering by ${wanted.map((a) => a.name).join(', ')})`,
    );
    return false;
  }
}

async function startCampaign(
  c: Client,
  file: string,
  config: CampaignConfig,
  id: string | undefined,
): Promise<{ handle: WorkflowHandle; fresh: boolean; id: string }> {
  const { WorkflowExecutionAlreadyStartedError } = await import('@temporalio/client');
  const cid = campaignIdOf(id, config.name);
  // Re-attach to a running campaign (after continue-as-new its run id is not the first one).
  const running = await c.workflow
    .getHandle(cid)
    .describe()
    .then(
      (d) => d.status.name === 'RUNNING',
      () => false,
    );
  if (running) return { handle: c.workflow.getHandle(cid), fresh: false, id: cid };
  await refuseForeignFolder(c, config, cid);
  try {
    const indexed = await searchAttributesReady(c);
    const handle = await c.workflow.start('campaignWorkflow', {
      workflowId: cid,
      taskQueue: QUEUES.control,
      args: [{ campaignId: cid, config, ...(indexed ? { searchAttributes: true } : {}) }],
      ...(indexed
        ? {
            typedSearchAttributes: [
              { key: SEARCH_ATTRIBUTES.campaign, value: cid },
              { key: SEARCH_ATTRIBUTES.state, value: 'running' },
              { key: SEARCH_ATTRIBUTES.iteration, value: 0 },
            ],
          }
        : {}),
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      memo: { name: config.name, artifactsRoot: config.artifacts.root, artifacts: config.artifacts, file: path.resolve(file) },
    });
    await recordCampaignOwner(config, cid, handle.firstExecutionRunId);
    return { handle, fresh: true, id: cid };
  } catch (e) {
    if (e instanceof WorkflowExecutionAlreadyStartedError) {
      throw new UserError(`campaign "${cid}" already ran to the end; see \`alignloop history ${cid}\`, or pass --id NEW_ID to run it again`);
    }
    throw e;
  }
}

async function start(file: string, opts: { id?: string }): Promise<number> {
  const config = await checkedCampaign(file); // config errors before any connection
  const { client } = await temporalClient(true);
  const { id, fresh } = await startCampaign(client, file, config, opts.id);
  out(fresh ? `started campaign ${id}` : `campaign ${id} is already running`);
  return 0;
}

async function run(file: string, opts: { id?: string; worker: boolean }): Promise<number> {
  const config = await checkedCampaign(file);
  const t0 = Date.now();
  const { client, target } = await temporalClient(true);
  const { handle, fresh, id } = await startCampaign(client, file, config, opts.id);
  info(fresh ? `started campaign ${id} on ${target.address}` : `re-attached to running campaign ${id}`);
  if (target.uiPort) info(`Temporal Web UI: http://127.0.0.1:${target.uiPort}/namespaces/default/workflows/${id}`);

  let stopWorkers: () => void = () => undefined;
  let workersDone: Promise<void> = Promise.resolve();
  if (opts.worker) {
    const { connectWorker } = await import('../../workers/connection');
    const { createWorkers, runWorkers } = await import('../../workers/workers');
    const conn = await connectWorker(target, 'WARN');
    const workers = await createWorkers(conn, target.namespace, ROLES);
    workersDone = runWorkers(workers, new Promise<void>((r) => (stopWorkers = r))).finally(() => conn.close());
  }
  // Ctrl-C / SIGTERM: stop following and stop the in-process workers within seconds; the campaign
  // keeps its progress in Temporal (a killed activity is retried by the next worker).
  let interrupted: NodeJS.Signals | null = null;
  let wake: () => void = () => undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = sig;
    info(`\ninterrupted (${sig}): the campaign keeps its progress in Temporal; \`alignloop run ${file}\` again re-attaches`);
    stopWorkers();
    wake();
    setTimeout(() => process.exit(128 + (sig === 'SIGINT' ? 2 : 15)), 5000).unref();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const tty = process.stderr.isTTY;
  let last = '';
  const result = handle.result();
  let finished = false;
  result.then(
    () => (finished = true),
    () => (finished = true),
  );
  let resumed = false;
  let pausedOn: CampaignStatus | null = null;
  if (!fresh) {
    // The file as it is now: its edits apply from the next iteration on (or it is refused, naming the settings).
    const { applyConfig } = await import('./control');
    try {
      await applyConfig(handle, id, config, 30, { quiet: true });
    } catch (e) {
      if (e instanceof UserError) throw e; // refused: the file changes settings that may not change
      info(`warning: the campaign file's edits were not applied (${(e as Error).message.split('\n')[0]}); it runs with the config it has`);
    }
  }
  const { campaignStatusQuery, resumeSignal, resumeUpdate } = await import('../../workflows/messages');
  while (!finished && !interrupted) {
    try {
      const s = await handle.query(campaignStatusQuery);
      if (s.state === 'failed-paused' && !fresh && !resumed) {
        // Running the file again after fixing the cause is how a user says "try again".
        info(`resuming campaign ${id}, which was paused on: ${s.pauseReason}`);
        await handle.executeUpdate(resumeUpdate, { args: [{}] }).catch(() => handle.signal(resumeSignal, {}));
        resumed = true;
        continue;
      }
      const it = await iterationStatus(client, s);
      const line = progressLine(s, it, it?.stage === 'train' && s.childWorkflowId ? await trainingProgress(client, s.childWorkflowId) : null);
      if (line !== last) {
        if (tty) process.stderr.write(`\r\x1b[K${printable(line)}`);
        else info(line);
        last = line;
      }
      if (s.state === 'failed-paused' || s.state === 'paused') {
        pausedOn = s;
        break;
      }
    } catch {
      /* between runs (continue-as-new): try again */
    }
    await Promise.race([result.catch(() => undefined), new Promise<void>((r) => ((wake = r), setTimeout(r, 500)))]);
  }
  if (tty) process.stderr.write('\n');
  try {
    if (interrupted) return 128 + (interrupted === 'SIGINT' ? 2 : 15);
    if (pausedOn) {
      // The campaign lives on in Temporal, paused; this command stops following it.
      if (pausedOn.state === 'failed-paused') {
        info(`alignloop: campaign ${id} is paused on a failure: ${pausedOn.pauseReason}`);
        info(`after fixing it, \`alignloop run ${file}${opts.id ? ` --id ${opts.id}` : ''}\` (or \`alignloop resume ${id}\` with workers running) continues`);
        return EXIT.failure;
      }
      info(`campaign ${id} is paused${pausedOn.pauseReason ? `: ${pausedOn.pauseReason}` : ''}; \`alignloop resume ${id}\` continues it`);
      return pausedOn.pauseReason ? EXIT.failure : EXIT.ok;
    }
    const r = (await result) as { state: string; summaries: IterationSummary[] };
    out(summaryTable(r.summaries));
    out(`campaign ${id} ${r.state} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  } catch (e) {
    info(`alignloop: campaign ${id} failed: ${rootCause(e)}`);
    return 1;
  } finally {
    stopWorkers();
    await workersDone;
  }
}

export function registerCampaignCommands(program: Command): void {
  program
    .command('validate')
    .description('check a campaign file without starting anything')
    .argument('<file>', 'campaign file (.yaml or .json)')
    .action((file: string) => exitWith(validate(file)));
  program
    .command('start')
    .description('start a campaign (or re-attach to a running one) and return; run workers with `alignloop worker`')
    .argument('<file>', 'campaign file (.yaml or .json)')
    .option('--id <id>', "campaign id (default: the file's name field)")
    .action((file: string, opts: { id?: string }) => exitWith(start(file, opts)));
  program
    .command('run')
    .description('start or re-attach, run an all-in-one worker in-process, show progress, print the per-iteration table')
    .argument('<file>', 'campaign file (.yaml or .json)')
    .option('--id <id>', "campaign id (default: the file's name field)")
    .option('--no-worker', 'only follow the campaign; workers run elsewhere')
    .action((file: string, opts: { id?: string; worker: boolean }) => exitWith(run(file, opts)));
}
