/** Debian's headless Chromium loading a report, as test/integration/report.test.ts runs it: what the page says it drew. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpDir } from './paths';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** data-charts, data-nonblank, data-errors of the report's #status after Chromium ran its script. */
export function drawnCharts(htmlFile: string): { counts: number[]; stderr: string } {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install chromium), as .ci/run does`);
  const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking'];
  flags.push('--disable-component-update', '--disable-sync', `--user-data-dir=${tmpDir('alignloop-chromium-')}`, '--enable-logging=stderr', '--v=0');
  const r = spawnSync(CHROMIUM, [...flags, '--virtual-time-budget=10000', '--dump-dom', `file://${htmlFile}`], { encoding: 'utf8', timeout: 120_000 });
  const status = /<div id="status" data-charts="(\d+)" data-nonblank="(\d+)" data-errors="(\d+)"/.exec(r.stdout);
  return { counts: status ? status.slice(1).map(Number) : [], stderr: r.stderr };
}
