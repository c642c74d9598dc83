/**
 * `alignloop worker --allow-commands vllm,trl`: the programs this worker may start for a campaign
 * (managed servers, sampler commands, trainers). Without the option any program a campaign names
 * runs, so whoever can start workflows on the namespace can run commands on the workers. With it, a
 * bare name is looked up on the worker's own PATH (a campaign's `env` cannot redirect it) and a path
 * must match an entry exactly; variables that change what a program loads (PATH, LD_*, NODE_OPTIONS,
 * PYTHONPATH, ...) may not be set by the campaign. An allowed program's arguments still come from the
 * campaign: allow servers and trainers, not interpreters (`python`, `node`, `bash`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ProcessFailed } from '../../config/errors';

let allowed: string[] | null = null;

export function allowPrograms(list: string[] | null): void {
  allowed = list && list.length ? list : null;
}

const LOADER_VARS =
  /^(PATH|LD_\w+|DYLD_\w+|NODE_OPTIONS|NODE_PATH|PYTHONPATH|PYTHONHOME|PYTHONSTARTUP|PYTHONUSERBASE|BASH_ENV|ENV|PERL5OPT|PERL5LIB|RUBYOPT|RUBYLIB)$/;

function onWorkerPath(name: string): string | null {
  for (const d of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!d) continue;
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* not here */
    }
  }
  return null;
}

/** The program to spawn for argv0 (a path from the worker's own PATH when an allow-list is set); throws when it is not allowed. */
export function allowedProgram(argv0: string, env: NodeJS.ProcessEnv, setting: string): string {
  if (!allowed) return argv0;
  const list = allowed.join(', ');
  const refuse = (why: string) =>
    new ProcessFailed(`${setting}: ${why}; this worker runs only ${list} (alignloop worker --allow-commands); nothing was started`);
  const redirected = Object.keys(env).filter((k) => LOADER_VARS.test(k) && env[k] !== process.env[k]);
  if (redirected.length) throw refuse(`the campaign sets ${redirected.join(', ')}, which would change what the program loads`);
  if (argv0.includes('/')) {
    if (!allowed.some((a) => a.includes('/') && path.resolve(a) === path.resolve(argv0))) throw refuse(`"${argv0}" is not an allowed program`);
    return argv0;
  }
  if (!allowed.includes(argv0)) throw refuse(`"${argv0}" is not an allowed program`);
  const found = onWorkerPath(argv0);
  if (!found) throw refuse(`"${argv0}" is allowed but not on this worker's PATH`);
  return found;
}
