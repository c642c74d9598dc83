/**
 * Text that came from models, servers or artifact files never reaches a terminal or a browser raw,
 * and a campaign id never reaches outside the artifacts root. The CLI runs as a real subprocess
 * on hand-written artifacts (no Temporal server needed with --root).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeJsonAtomic } from '../../activities/artifacts/atomic-file';
import { markComplete } from '../../activities/artifacts/store';
import { buildReport } from '../../activities/audit/report';
import { printable } from '../../cli/terminal-text';
import { CLI, tmpDir } from '../helpers/paths';

const ESCAPES = '\x1b]0;pwned\x07\x1b[2J\x1b]52;c;cm0gLXJmIH4=\x07\x9b31m\u202ecba\r';

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A finished iteration's manifest as the manifest stage writes it (with its completion record), or without the record. */
function writeManifest(root: string, id: string, iteration: number, fields: Record<string, unknown>, recorded = true): string {
  const file = path.join(root, id, `iter-${String(iteration).padStart(3, '0')}`, 'manifest.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const manifest = {
    iteration,
    counts: { prompts_in: 2, samples: 4, scored: 4, examples: 1 },
    reward: { mean: 0.5 },
    lineage: { checkpoint_out: { path: '/x/ckpt.json', sha256: 'ab'.repeat(32) }, policy_in: null },
    timings_seconds: { sample: 1, score: 1 },
    empty_reason: null,
    cost: { judge_usd: 0 },
    artifacts: { samples: [], scored: [], feedback: null },
    feedback: { examples_out: 1, label_balance: { desirable_or_a: 1, undesirable_or_b: 0 }, unlabelled: {}, non_finite: 0 },
    ...fields,
  };
  const w = writeJsonAtomic(file, manifest);
  if (recorded) markComplete({ path: w.path, sha256: w.sha256, bytes: w.bytes, count: 1 }, {});
  return file;
}

const hasRawControl = (s: string) => [...s].some((c) => c !== '\n' && c !== '\t' && (c < ' ' || (c >= '\x7f' && c <= '\x9f') || c === '\u202e'));

describe('terminal output', () => {
  test('printable shows ESC, OSC, BEL, CSI, C1 and bidi overrides as visible escapes and keeps newlines and tabs', () => {
    expect(printable(`a${ESCAPES}\tb\nc`)).toBe('a\\x1b]0;pwned\\x07\\x1b[2J\\x1b]52;c;cm0gLXJmIH4=\\x07\\x9b31m\\u202ecba\\x0d\tb\nc');
    expect(printable('plain text, ünïcode ✓')).toBe('plain text, ünïcode ✓');
  });

  test('history prints a manifest note and an error message without their escape sequences', () => {
    const root = tmpDir('alignloop-untrusted-');
    writeManifest(root, 'c1', 0, { empty_reason: `judge said ${ESCAPES}` });
    const r = cli(['history', 'c1', '--root', root]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('judge said \\x1b]0;pwned\\x07');
    expect(hasRawControl(r.stdout)).toBe(false);

    const bad = cli(['worker', '--roles', `sample${ESCAPES}`]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('unknown role "sample\\x1b]0;pwned');
    expect(hasRawControl(bad.stderr)).toBe(false);
  });
});

describe('report', () => {
  const chartJs = '/* chart.js stand-in: the page script is not run here */';

  test('an edited manifest (no longer matching its record) is refused, naming the file', async () => {
    const root = tmpDir('alignloop-untrusted-');
    const file = writeManifest(root, 'c2', 0, {});
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/"prompts_in": ?2/, '"prompts_in":"<img src=x onerror=alert(1)>"'));
    await expect(buildReport(root, 'c2', chartJs)).rejects.toThrow(/manifest\.json changed since it was recorded/);
    writeManifest(root, 'c3', 0, { counts: { prompts_in: '<script>alert(1)</script>' } }, false);
    await expect(buildReport(root, 'c3', chartJs)).rejects.toThrow(/has no completion record/);
  });

  test('every table cell is escaped, even fields a manifest should hold as numbers', async () => {
    const root = tmpDir('alignloop-untrusted-');
    writeManifest(root, 'c4', 0, {
      counts: { prompts_in: '<img src=x onerror=alert(1)>', samples: '<b>4</b>', scored: 4, examples: 1 },
      feedback: { examples_out: '<i>1</i>', label_balance: { desirable_or_a: 1, undesirable_or_b: 0 }, unlabelled: {}, non_finite: 0 },
    });
    const { html } = await buildReport(root, 'c4', chartJs);
    const table = html.slice(html.indexOf('<tbody>'), html.indexOf('</tbody>'));
    expect(table).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(table).not.toMatch(/<img|<b>|<i>/);
  });
});

describe('campaign ids on the read-only commands', () => {
  test('verify, history, audit, report and diff refuse an id that would leave the artifacts root', () => {
    const base = tmpDir('alignloop-untrusted-');
    const root = path.join(base, 'root');
    fs.mkdirSync(root);
    writeManifest(base, 'outside', 0, {}); // base/outside/iter-000: beside the root, not in it
    const runs = [
      ['verify', '../outside', '--root', root],
      ['history', '../outside', '--root', root],
      ['audit', '../outside', '--iteration', '0', '--example', '0', '--root', root],
      ['report', '../outside', '--out', path.join(base, 'r.html'), '--root', root],
      ['diff', '../outside', '--iterations', '0', '0', '--root', root],
    ];
    for (const args of runs) {
      const r = cli(args);
      expect({ args, status: r.status }).toEqual({ args, status: 2 });
      expect(r.stderr).toMatch(/campaign id "\.\.\/outside" must be 1 to 200 letters, digits/);
    }
    expect(fs.existsSync(path.join(base, 'r.html'))).toBe(false);
  });
});
