/** `alignloop report` writes one self-contained HTML file; Debian's Chromium (headless) loads it and draws every plot. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpDir } from '../helpers/paths';
import { cli, cliEnv, runToEnd, useTestServer, writeCampaign } from '../helpers/temporal';

jest.setTimeout(600_000);

const ctx = useTestServer('alignloop-report-');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** Headless Chromium as this machine allows it (no sandbox as root, no background network). */
function chromium(args: string[]): { status: number | null; stdout: string; stderr: string } {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install chromium), as .ci/run does`);
  const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking'];
  flags.push('--disable-component-update', '--disable-sync', `--user-data-dir=${tmpDir('alignloop-chromium-')}`, '--enable-logging=stderr', '--v=0');
  const r = spawnSync(CHROMIUM, [...flags, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the report is one self-contained file that headless Chromium loads without errors, with every plot drawn', async () => {
  expect((await runToEnd(ctx, 'rep-1', writeCampaign(ctx.dir, 'rep', { iterations: 3, perIteration: 8 }))).state).toBe('completed');
  const out = path.join(ctx.dir, 'report.html');
  const r = cli(['report', 'rep-1', '--out', out], cliEnv(ctx.server.address));
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/wrote .*report.html: 3 iterations/);
  const html = fs.readFileSync(out, 'utf8');
  // Nothing fetched at view time: no external scripts, stylesheets or images.
  expect(html).not.toMatch(/<script[^>]+src=|<link\b|<img\b|@import/i);
  expect(html).toContain('<td>2</td>'); // the iteration table has every iteration

  const dom = chromium(['--virtual-time-budget=10000', '--dump-dom', `file://${out}`]);
  const status = /<div id="status" data-charts="(\d+)" data-nonblank="(\d+)" data-errors="(\d+)"/.exec(dom.stdout);
  expect(status).not.toBeNull();
  expect(status!.slice(1).map(Number)).toEqual([6, 6, 0]);
  expect(dom.stderr).not.toMatch(/Uncaught|CONSOLE.*(error|Error)/);

  const png = path.join(ctx.dir, 'report.png');
  chromium(['--window-size=1280,1300', `--screenshot=${png}`, `file://${out}`]);
  const bytes = fs.readFileSync(png);
  expect(bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
  expect(bytes.length).toBeGreaterThan(40_000); // six plots and a table, not a blank page (a blank one is ~5 KB)
});

test('eval: the report gets an evaluation section (win rate with intervals, LC win rate, length, reward) with the best checkpoint marked, and both of its plots drawn', async () => {
  const evalPrompts = path.join(__dirname, '..', '..', '..', 'examples', 'quickstart', 'eval-prompts.jsonl');
  const file = writeCampaign(ctx.dir, 'rep-ev', { iterations: 3, perIteration: 8, extra: `eval: { prompts: ${evalPrompts}, samplesPerPrompt: 2 }` });
  expect((await runToEnd(ctx, 'rep-ev-1', file)).state).toBe('completed');
  const env = cliEnv(ctx.server.address);
  const out = path.join(ctx.dir, 'report-ev.html');
  expect(cli(['report', 'rep-ev-1', '--out', out], env).status).toBe(0);
  const html = fs.readFileSync(out, 'utf8');
  expect(html).toContain('<h2>Evaluation on held-out prompts</h2>');
  const best = JSON.parse(cli(['best', 'rep-ev-1', '--json'], env).stdout);
  expect(html).toContain(`Best checkpoint by winRate: iteration ${best.iteration}.`);
  const evalRows = /<table id="eval">[\s\S]*?<tbody>([\s\S]*?)<\/tbody>/.exec(html)![1].split('\n').filter(Boolean);
  expect(evalRows).toHaveLength(3);
  expect(evalRows.filter((r) => r.includes('<strong>best</strong>'))).toEqual([expect.stringContaining(`<td>${best.iteration} <strong>best</strong></td>`)]);
  expect(evalRows[best.iteration]).toContain(
    `<td>${best.eval.winRate.toFixed(3)} [${best.eval.winRateCi[0].toFixed(3)}, ${best.eval.winRateCi[1].toFixed(3)}]</td>`,
  );
  const dom = chromium(['--virtual-time-budget=10000', '--dump-dom', `file://${out}`]);
  const status = /<div id="status" data-charts="(\d+)" data-nonblank="(\d+)" data-errors="(\d+)"/.exec(dom.stdout);
  expect(status!.slice(1).map(Number)).toEqual([8, 8, 0]);
});
