#!/usr/bin/env node
/** The `alignloop` command: one commander program, one file per command group under commands/. */
import './node-version'; // first: a one-line error on a Node that is too old, before anything else loads
import { Command, CommanderError } from 'commander';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AlignloopError, EXIT } from '../config/errors';
import { redact } from '../config/redact';
import { registerCampaignCommands } from './commands/campaign';
import { registerControlCommands } from './commands/control';
import { registerFeedbackCommand } from './commands/feedback';
import { registerAuditCommands } from './commands/audit';
import { registerBestCommand } from './commands/best';
import { registerInspectCommands } from './commands/inspect';
import { registerJudgeCommand } from './commands/judge';
import { registerScoreCommand } from './commands/score';
import { registerServerCommands } from './commands/server';
import { printable } from './terminal-text';

/** The version in package.json (dist/cli/main.js -> ../../package.json). */
function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
}

export function buildProgram(): Command {
  const program = new Command('alignloop')
    .description('durable online iterative alignment campaigns (sample -> label -> feedback -> train) on Temporal')
    .version(packageVersion())
    .showSuggestionAfterError()
    .helpCommand(true);
  registerCampaignCommands(program);
  registerControlCommands(program);
  registerInspectCommands(program);
  registerBestCommand(program);
  registerAuditCommands(program);
  registerServerCommands(program);
  registerScoreCommand(program);
  registerJudgeCommand(program);
  registerFeedbackCommand(program);
  // Usage errors print as "alignloop: <what>" and exit 2, like every other user error.
  const configure = (cmd: Command) => {
    cmd.exitOverride().configureOutput({ outputError: (s, write) => write(printable(`alignloop: ${s.replace(/^error: /, '')}`)) });
    cmd.commands.forEach(configure);
  };
  configure(program);
  return program;
}

/** Runs the CLI and returns its exit code; user errors are one line on stderr, never a stack trace. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  if (argv.length === 0) {
    process.stdout.write(program.helpInformation());
    return EXIT.usage;
  }
  try {
    process.exitCode = undefined;
    await program.parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? 0);
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? 0 : EXIT.usage;
    }
    if (e instanceof AlignloopError) {
      process.stderr.write(`alignloop: ${printable(redact(e.message))}\n`);
      return e.exitCode;
    }
    process.stderr.write(`alignloop: internal error: ${printable(redact(String((e as Error)?.stack ?? e)))}\n`);
    return EXIT.failure;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    () => process.exit(EXIT.failure),
  );
}
