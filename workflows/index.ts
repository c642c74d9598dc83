export { campaignWorkflow } from './campaign';
export { iterationWorkflow } from './iteration';
export { gatherWorkflow, learnWorkflow } from './gather-learn';
