/** Writes dist/workflow-bundle.js (run by `npm run build`) so workers start without bundling. */
import { bundleWorkflowCode } from '@temporalio/worker';
import * as fs from 'node:fs';
import { WORKFLOW_BUNDLE } from './workers';

async function main(): Promise<void> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    logger: { info() {}, warn() {}, error: console.error, debug() {}, trace() {}, log() {} } as never,
  });
  fs.writeFileSync(WORKFLOW_BUNDLE, code);
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
