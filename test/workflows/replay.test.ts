// Replay: histories recorded from earlier builds (test/fixtures/histories) must replay on the
// current workflow code without a non-determinism error. A change to a workflow's commands that
// is not behind patched() fails here, in CI, instead of in a user's running fan-out.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { WORKFLOW_BUNDLE } from '../../src/temporal/bundle.js';

// Replay workers log every state change at INFO: keep the test output to what matters.
Runtime.install({ logger: new DefaultLogger('WARN') });

const DIR = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'histories');

describe('workflow replay of recorded histories', () => {
  // Workflow ids matter: fan-out children and command task ids derive from them.
  const ids = JSON.parse(readFileSync(path.join(DIR, 'workflow-ids.json'), 'utf8')) as Record<string, string>;
  const files = readdirSync(DIR).filter((f) => f.endsWith('.json') && f !== 'workflow-ids.json').sort();
  it('has recorded histories to replay', () => assert.ok(files.length >= 10, `only ${files.length} histories in ${DIR}`));
  for (const file of files) {
    it(`replays ${file}`, async () => {
      const history = JSON.parse(readFileSync(path.join(DIR, file), 'utf8')) as unknown;
      assert.ok(ids[file], `no workflow id for ${file} in workflow-ids.json`);
      await Worker.runReplayHistory({ workflowBundle: { codePath: WORKFLOW_BUNDLE }, replayName: file }, history, ids[file]);
    });
  }
});
