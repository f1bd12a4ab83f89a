// The replay test can fail: a history recorded from the current commandWorkflow replays on the
// real bundle, and the same history against a workflow whose commands differ
// (test/helpers/changedWorkflow.ts, bundled here on the fly) is a DeterminismViolationError.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DeterminismViolationError } from '@temporalio/workflow';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { WORKFLOW_BUNDLE } from '../../src/temporal/bundle.js';
import { HISTORIES_DIR, quietRuntime, testDataConverter } from '../helpers/workflowEnv.js';

quietRuntime();

const FILE = 'mocked-command-reroute.json';
const CHANGED = path.join(PACKAGE_ROOT, 'dist', 'test', 'helpers', 'changedWorkflow.js');
const silent = { info() {}, warn() {}, error() {}, debug() {}, trace() {}, log() {} };

describe('replay catches a non-deterministic change', () => {
  it(`fails to replay ${FILE} on a changed commandWorkflow, and replays it on the real one`, async () => {
    const history = JSON.parse(readFileSync(path.join(HISTORIES_DIR, FILE), 'utf8')) as unknown;
    const ids = JSON.parse(readFileSync(path.join(HISTORIES_DIR, 'workflow-ids.json'), 'utf8')) as Record<string, string>;
    const options = { replayName: FILE, dataConverter: testDataConverter() };
    await Worker.runReplayHistory({ ...options, workflowBundle: { codePath: WORKFLOW_BUNDLE } }, history, ids[FILE]);
    const { code } = await bundleWorkflowCode({ workflowsPath: CHANGED, logger: silent as never });
    await assert.rejects(Worker.runReplayHistory({ ...options, workflowBundle: { code } }, history, ids[FILE]), (err: unknown) => {
      assert.ok(err instanceof DeterminismViolationError, `expected a DeterminismViolationError, got ${String(err)}`);
      assert.match(err.message, /nondeterminism/i);
      return true;
    });
  });
});
