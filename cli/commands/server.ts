/** Running the pieces of a deployment: `worker` and `dev-server`. */
import type { Command } from 'commander';
import { EXIT, UserError } from '../../config/errors';
import { Role, ROLES } from '../../config/queues';
import { exitWith, info, nonNegativeInt, out, positiveInt, positiveNumber } from '../context';

interface WorkerFlags {
  roles?: string;
  scoreSlots?: number;
  allowCommands?: string;
  cacheDir?: string;
  cacheMaxGb?: number;
}

async function worker(opts: WorkerFlags): Promise<number> {
  const roles = (opts.roles ?? ROLES.join(','))
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean) as Role[];
  for (const r of roles) if (!ROLES.includes(r)) throw new UserError(`unknown role "${r}"; roles are ${ROLES.join(', ')}`, EXIT.usage);
  if (opts.allowCommands !== undefined) {
    const list = opts.allowCommands
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    if (list.length === 0) throw new UserError('--allow-commands: name at least one program, e.g. --allow-commands vllm,trl', EXIT.usage);
    const { allowPrograms } = await import('../../activities/process/allowed-programs');
    allowPrograms(list);
  }
  if (opts.cacheDir !== undefined || opts.cacheMaxGb !== undefined) {
    const { configureHostStore } = await import('../../activities/store/with-store');
    const path = await import('node:path');
    configureHostStore({
      ...(opts.cacheDir !== undefined ? { cacheDir: path.resolve(opts.cacheDir) } : {}),
      ...(opts.cacheMaxGb !== undefined ? { maxBytes: opts.cacheMaxGb * 1024 ** 3 } : {}),
    });
  }
  const { connectWorker, resolveTarget } = await import('../../workers/connection');
  const { createWorkers, runWorkers } = await import('../../workers/workers');
  const target = await resolveTarget({ startEmbedded: false });
  const conn = await connectWorker(target);
  const workers = await createWorkers(conn, target.namespace, roles, { scoreSlots: opts.scoreSlots });
  const stop = new Promise<void>((r) => {
    process.once('SIGINT', r);
    process.once('SIGTERM', r);
  });
  info(
    `alignloop worker: roles ${roles.join(',')} on ${target.address} (${target.namespace})${opts.allowCommands ? `; programs allowed: ${opts.allowCommands}` : ''}`,
  );
  await runWorkers(workers, stop);
  await conn.close();
  return 0;
}

async function devServer(opts: { stop?: boolean; port: number; uiPort: number }): Promise<number> {
  const { STATE_DIR } = await import('../../workers/connection');
  const dev = await import('../../workers/dev-server');
  if (opts.stop) {
    out((await dev.stopEmbeddedServer(STATE_DIR())) ? 'stopped the embedded Temporal dev server' : 'no embedded Temporal dev server was running');
    return 0;
  }
  return dev.runDevServerInForeground(STATE_DIR(), { port: opts.port, uiPort: opts.uiPort }, info);
}

export function registerServerCommands(program: Command): void {
  program
    .command('worker')
    .description('run role workers against TEMPORAL_ADDRESS (or the embedded server)')
    .option('--roles <roles>', `comma-separated roles: ${ROLES.join(',')} (default: all)`)
    .option(
      '--score-slots <n>',
      'scoring shards at once in this process, sharing its one model session: 2 (the default) prefetches the next shard while one is scored; 1 runs strictly one at a time',
      positiveInt,
    )
    .option(
      '--allow-commands <programs>',
      'comma-separated programs this worker may start for campaigns (managed servers, sampler commands, trainers), e.g. vllm,trl; default: any',
    )
    .option(
      '--cache-dir <dir>',
      "this host's cache for campaigns whose artifacts are in an object store (s3://): its working copies and the checkpoints it downloaded (default: $ALIGNLOOP_CACHE_DIR, else ~/.cache/alignloop)",
    )
    .option('--cache-max-gb <n>', 'size cap of downloaded checkpoints kept in the cache, least recently used out first (default: 100)', positiveNumber)
    .action((opts: WorkerFlags) => exitWith(worker(opts)));
  program
    .command('dev-server')
    .description('run the embedded Temporal dev server in the foreground, or stop the recorded one (--stop)')
    .option('--port <n>', 'gRPC port', nonNegativeInt, 7233)
    .option('--ui-port <n>', 'Web UI port', nonNegativeInt, 8233)
    .option(
      '--stop',
      'stop the recorded dev server (the background one `alignloop run` started, or a foreground `alignloop dev-server`) and wait until it is gone',
    )
    .action((opts: { stop?: boolean; port: number; uiPort: number }) => exitWith(devServer(opts)));
}
