import { Worker } from '@temporalio/worker';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WORKFLOW_BUNDLE } from '../../workers/workers';
import { ROOT } from '../helpers/paths';

jest.setTimeout(300_000);

// Campaigns run for days and users upgrade alignloop under them: every history recorded by an
// earlier release must replay against the current workflow code (see docs/upgrading.md).
const DIR = path.join(ROOT, 'test', 'fixtures', 'histories');
const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.json'));

test('there are recorded histories to replay', () => {
  expect(files.length).toBeGreaterThanOrEqual(4);
});

test.each(files)('%s replays without a determinism error', async (f) => {
  const rec = JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8')) as { runs: { workflowId: string; history: unknown }[] };
  expect(rec.runs.length).toBeGreaterThan(0);
  const results = Worker.runReplayHistories(
    { workflowBundle: { codePath: WORKFLOW_BUNDLE } },
    rec.runs.map((r) => ({ workflowId: r.workflowId, history: r.history })),
  );
  let n = 0;
  for await (const r of results) {
    expect([r.workflowId, r.error?.message]).toEqual([r.workflowId, undefined]);
    n++;
  }
  expect(n).toBe(rec.runs.length);
});
