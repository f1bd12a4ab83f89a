// The trust boundary in workflow code (workflows/interceptors.ts): a workflow whose input was
// not encrypted with the deployment's key is refused before any of its code runs. The worker and
// the test's client use the real EncryptionCodec; the intruder's client has none.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { FailureType } from '../../src/shared.js';
import { refused } from '../helpers/wfScenarios.js';
import { startWorkflowEnv, type WorkflowEnv } from '../helpers/workflowEnv.js';

describe('workflow input interceptor (real codec, real server)', { timeout: 60_000 }, () => {
  let w: WorkflowEnv;
  before(async () => {
    w = await startWorkflowEnv(['n1']);
  });
  after(async () => {
    await w?.close();
  });

  it('refuses a command started with a payload that is not encrypted: Failed, type Refused, no activity called', async () => {
    const r = await refused(w);
    assert.ok(r.error instanceof WorkflowFailedError, `expected the workflow to fail, got ${String(r.error)}`);
    const cause = r.error.cause;
    assert.ok(cause instanceof ApplicationFailure);
    assert.equal(cause.type, FailureType.Refused);
    assert.equal(cause.nonRetryable, true);
    assert.match(cause.message, /^refused: this workflow's input was not accepted because it is not encrypted with this deployment's key .*; nothing was run$/);
    assert.equal(r.calls.length, 0, 'no activity ran');
    assert.equal((await r.handle.describe()).status.name, 'FAILED');
  });
});
