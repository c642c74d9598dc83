/**
 * npm run test:mutants — does the suite notice when a promise breaks? Applies each one-line breakage
 * listed in test/mutants/mutants.json to a scratch copy of this working tree (node_modules and .tools
 * symlinked), builds it, runs the test file(s) that should catch it, and prints which breakages the
 * tests caught and which survived. Opt-in (not part of npm test): it builds once per breakage.
 *
 *   node dist/test/mutants/run.js [--only id,id] [--keep]
 *
 * A breakage whose `find` text is no longer in its file is reported as stale (update the list).
 * Exit status: 0 when every breakage was caught, 1 when one survived or is stale.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

interface Mutant {
  id: string;
  /** The promise the breakage breaks, in a line. */
  promise: string;
  file: string;
  /** Text that must occur exactly once in file; replaced by `replace`. */
  find: string;
  replace: string;
  /** Compiled test files (relative to the repo root) that should fail. */
  tests: string[];
  /** Jest -t filter, when only some tests of those files concern it. */
  testName?: string;
  note?: string;
}

type Outcome = 'caught' | 'survived' | 'stale' | 'build failed';

const ROOT = path.resolve(__dirname, '..', '..', '..');

function run(cmd: string, args: string[], cwd: string, timeoutMs = 900_000): { status: number | null; output: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, FORCE_COLOR: '0' } });
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** A copy of the working tree as git sees it (tracked and untracked-not-ignored files), dependencies linked. */
function scratchCopy(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alignloop-mutants-'));
  const files = run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], ROOT).output.split('\0').filter(Boolean);
  for (const f of files) {
    const from = path.join(ROOT, f);
    if (!fs.existsSync(from) || fs.lstatSync(from).isSymbolicLink()) continue;
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.copyFileSync(from, path.join(dir, f));
  }
  for (const link of ['node_modules', '.tools'])
    if (fs.existsSync(path.join(ROOT, link))) fs.symlinkSync(fs.realpathSync(path.join(ROOT, link)), path.join(dir, link));
  return dir;
}

function build(dir: string, workflows: boolean): boolean {
  const tsc = run(
    process.execPath,
    [path.join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json', '--incremental', '--tsBuildInfoFile', '.mutants.tsbuildinfo'],
    dir,
  );
  if (tsc.status !== 0) {
    process.stdout.write(tsc.output.split('\n').slice(0, 5).join('\n') + '\n');
    return false;
  }
  return !workflows || run(process.execPath, ['dist/workers/bundle.js'], dir).status === 0;
}

function main(): number {
  const args = process.argv.slice(2);
  const only = args.includes('--only') ? new Set(args[args.indexOf('--only') + 1].split(',')) : null;
  const keep = args.includes('--keep');
  const all = JSON.parse(fs.readFileSync(path.join(ROOT, 'test', 'mutants', 'mutants.json'), 'utf8')) as Mutant[];
  const mutants = all.filter((m) => !only || only.has(m.id));
  const dir = scratchCopy();
  process.stdout.write(`scratch copy: ${dir}\nbuilding it once...\n`);
  if (!build(dir, true)) throw new Error(`the unmodified copy does not build (${dir})`);
  const results: { m: Mutant; outcome: Outcome }[] = [];
  for (const m of mutants) {
    const file = path.join(dir, m.file);
    const original = fs.readFileSync(file, 'utf8');
    const at = original.indexOf(m.find);
    let outcome: Outcome;
    if (at < 0 || original.indexOf(m.find, at + 1) >= 0) outcome = 'stale';
    else {
      fs.writeFileSync(file, original.slice(0, at) + m.replace + original.slice(at + m.find.length));
      const workflows = m.file.startsWith('workflows/');
      if (!build(dir, workflows)) outcome = 'build failed';
      else {
        const jest = run(
          process.execPath,
          [path.join(dir, 'node_modules', 'jest', 'bin', 'jest.js'), ...m.tests, ...(m.testName ? ['-t', m.testName] : [])],
          dir,
        );
        outcome = jest.status === 0 ? 'survived' : 'caught';
      }
      fs.writeFileSync(file, original);
      if (!build(dir, workflows)) throw new Error(`the copy does not build again after restoring ${m.file}`);
    }
    results.push({ m, outcome });
    process.stdout.write(`${outcome.padEnd(12)} ${m.id}: ${m.promise}\n`);
  }
  if (!keep) fs.rmSync(dir, { recursive: true, force: true });
  const survived = results.filter((r) => r.outcome !== 'caught');
  process.stdout.write(`\n${results.length - survived.length} of ${results.length} breakages caught.\n`);
  for (const { m, outcome } of survived) {
    process.stdout.write(`  ${outcome}: ${m.id} (${m.file}; ${m.tests.join(', ')}${m.testName ? ` -t '${m.testName}'` : ''})${m.note ? `: ${m.note}` : ''}\n`);
  }
  return survived.length ? 1 : 0;
}

process.exitCode = main();
