// Every workflow the worker registers. Workflow code is bundled and sandboxed: no Node I/O here.
export { commandWorkflow } from './command.js';
export { clusterMonitorWorkflow } from './monitor.js';
export { batchWorkflow, parallelWorkflow } from './parallel.js';
export { readOutputWorkflow } from './output.js';
export { workspaceAdminWorkflow } from './admin.js';
