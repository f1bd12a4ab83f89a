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
  const slim = slimBundle(code);
  writeFileSync(WORKFLOW_BUNDLE, slim);
  console.error(`workflow bundle: ${WORKFLOW_BUNDLE} (${(slim.length / 1024).toFixed(0)} KiB)`);
}

/**
 * The bundle is held as a string by every process that runs workflows, twice (the main thread
 * keeps it for its workflow threads, and each thread runs it) with its inline source map. The
 * SDK maps stack traces with the map's mappings only: its sourcesContent (~650 KB of the ~1.9 MB)
 * is dropped. Three characters beyond Latin-1 (in the SDK's comments) made V8 hold the whole
 * text as UTF-16, twice the bytes: they are written as \u escapes (valid in comments, strings
 * and identifiers alike).
 */
export function slimBundle(code: string): string {
  const marker = '//# sourceMappingURL=data:application/json;charset=utf-8;base64,';
  const at = code.lastIndexOf(marker);
  if (at < 0) throw new Error('workflow bundle: no inline source map (the SDK requires one)');
  const map = JSON.parse(Buffer.from(code.slice(at + marker.length).trim(), 'base64').toString('utf8')) as { sourcesContent?: unknown };
  delete map.sourcesContent;
  const body = code.slice(0, at).replace(/[^\u0000-\u00ff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `${body}${marker}${Buffer.from(JSON.stringify(map)).toString('base64')}\n`;
}
