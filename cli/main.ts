#!/usr/bin/env node
import { FeedbackOptionsError } from '../activities/feedback/build';
import { InputError } from '../activities/feedback/scored-samples';
import { EXIT_USAGE, UserError } from './errors';

const USAGE = `alignloop: durable online iterative alignment campaigns

  alignloop run FILE [--id ID]        start or re-attach, follow with progress, exit 0 when done
  alignloop start FILE [--id ID]      start and return
  alignloop status [ID] [--json]      stage, iteration, progress, last error
  alignloop list                      campaigns and their states
  alignloop pause|resume|stop ID      stop = finish the current iteration, then end
  alignloop history ID [--json]       one row per iteration
  alignloop worker [--roles …]        run workers (control,sample,score,judge,train)
  alignloop dev-server                run the embedded Temporal server in the foreground
  alignloop validate FILE             check a campaign file
  alignloop score --model DIR --in F --out F
  alignloop judge --in F --out F --config JUDGE.yaml
  alignloop feedback build --in F --type … --format halos|trl|jsonl --out F`;

type Command = (argv: string[]) => Promise<number>;

const commands: Record<string, () => Promise<Command>> = {
  feedback: async () => (await import('./commands/feedback')).feedbackCommand,
  score: async () => (await import('./commands/score')).scoreCommand,
  judge: async () => (await import('./commands/judge')).judgeCommand,
  validate: async () => (await import('./commands/campaign')).validateCommand,
  start: async () => (await import('./commands/campaign')).startCommand,
  run: async () => (await import('./commands/campaign')).runCommand,
  status: async () => (await import('./commands/campaign')).statusCommand,
  list: async () => (await import('./commands/campaign')).listCommand,
  pause: async () => (await import('./commands/campaign')).signalCommand('pause'),
  resume: async () => (await import('./commands/campaign')).signalCommand('resume'),
  stop: async () => (await import('./commands/campaign')).signalCommand('stop'),
  history: async () => (await import('./commands/campaign')).historyCommand,
  worker: async () => (await import('./commands/campaign')).workerCommand,
  'dev-server': async () => (await import('./commands/campaign')).devServerCommand,
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE + '\n');
    return name ? 0 : EXIT_USAGE;
  }
  const load = commands[name];
  if (!load) throw new UserError(`unknown command "${name}"; run alignloop --help`, EXIT_USAGE);
  return (await load())(rest);
}

function userMessage(e: unknown): { message: string; code: number } | undefined {
  if (e instanceof UserError) return { message: e.message, code: e.exitCode };
  if (e instanceof InputError || e instanceof FeedbackOptionsError) return { message: e.message, code: EXIT_USAGE };
  const code = (e as { code?: string })?.code;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) return { message: (e as Error).message, code: EXIT_USAGE };
  const name = (e as { name?: string })?.name;
  if (name === 'ConfigError' || name === 'ModelFolderError') return { message: (e as Error).message, code: EXIT_USAGE };
  if (name === 'DevServerError') return { message: (e as Error).message, code: 1 };
  return undefined;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      const user = userMessage(e);
      if (user) {
        process.stderr.write(`alignloop: ${user.message}\n`);
        process.exit(user.code);
      }
      process.stderr.write(`alignloop: internal error: ${(e as Error)?.stack ?? e}\n`);
      process.exit(70);
    },
  );
}
