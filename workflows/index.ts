export { campaignWorkflow } from './campaign';
export { iterationWorkflow } from './iteration';
