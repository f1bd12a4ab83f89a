// Build step: pre-bundle the workflow code (with its interceptors and failure converter) so a
// worker starts in ~1 s instead of webpacking at start.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { PACKAGE_ROOT } from '../paths.js';

export const WORKFLOW_BUNDLE = path.join(PACKAGE_ROOT, 'dist', 'workflow-bundle.js');
export const WORKFLOWS_PATH = path.join(PACKAGE_ROOT, 'dist', 'src', 'workflows', 'index.js');
export const WORKFLOW_INTERCEPTORS_PATH = path.join(PACKAGE_ROOT, 'dist', 'src', 'workflows', 'interceptors.js');
/** Built from src/temporal/failureConverter.cts (the SDK require()s it by path, workers and clients alike). */
export const FAILURE_CONVERTER_PATH = path.join(PACKAGE_ROOT, 'dist', 'src', 'temporal', 'failureConverter.cjs');

if (process.argv[1] && path.resolve(process.argv[1]) === path.join(PACKAGE_ROOT, 'dist', 'src', 'temporal', 'bundle.js')) {
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    workflowInterceptorModules: [WORKFLOW_INTERCEPTORS_PATH],
    failureConverterPath: FAILURE_CONVERTER_PATH,
    logger: { info() {}, warn: console.warn, error: console.error, debug() {}, trace() {}, log() {} } as never,
  });
  writeFileSync(WORKFLOW_BUNDLE, code);
  console.error(`workflow bundle: ${WORKFLOW_BUNDLE} (${(code.length / 1024).toFixed(0)} KiB)`);
}
