// Replay: histories recorded from earlier builds (test/fixtures/histories) must replay on the
// current workflow code without a non-determinism error. A change to a workflow's commands that
// is not behind patched() fails here, in CI, instead of in a user's running fan-out.
//
// Two kinds of fixture: the older ones were recorded before the payload codec (plaintext), the
// mocked-*.json ones from the current workflows with the codec (record.ts there), encrypted with
// the committed test key. A history with any encrypted payload replays with that key in the
// replay worker's data converter; a plaintext one without (through the codec, its input would be
// refused as not ours, and the replay would diverge).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Worker } from '@temporalio/worker';
import { ENCRYPTED_ENCODING } from '../../src/security/codec.js';
import { WORKFLOW_BUNDLE } from '../../src/temporal/bundle.js';
import { HISTORIES_DIR as DIR, quietRuntime, testDataConverter } from '../helpers/workflowEnv.js';

quietRuntime();

/** Whether a recorded history (its JSON text) carries payloads encrypted by the codec. */
const isEncrypted = (text: string): boolean => text.includes(`"${Buffer.from(ENCRYPTED_ENCODING).toString('base64')}"`);

describe('workflow replay of recorded histories', () => {
  // Workflow ids matter: fan-out children and command task ids derive from them, and the codec binds payloads to them.
  const ids = JSON.parse(readFileSync(path.join(DIR, 'workflow-ids.json'), 'utf8')) as Record<string, string>;
  const files = readdirSync(DIR)
    .filter((f) => f.endsWith('.json') && f !== 'workflow-ids.json')
    .sort();
  const texts = new Map(files.map((f) => [f, readFileSync(path.join(DIR, f), 'utf8')]));
  it('has recorded histories to replay', () => assert.ok(files.length >= 10, `only ${files.length} histories in ${DIR}`));
  it('has histories of the current workflows, recorded with the codec', () => {
    const current = files.filter((f) => f.startsWith('mocked-'));
    assert.ok(current.length >= 11, `only ${current.length} mocked-*.json histories`);
    for (const f of current) assert.ok(isEncrypted(texts.get(f)!), `${f} has no encrypted payload`);
  });
  for (const file of files) {
    it(`replays ${file}`, async () => {
      const text = texts.get(file)!;
      assert.ok(ids[file], `no workflow id for ${file} in workflow-ids.json`);
      await Worker.runReplayHistory(
        {
          workflowBundle: { codePath: WORKFLOW_BUNDLE },
          replayName: file,
          ...(isEncrypted(text) ? { dataConverter: testDataConverter() } : {}),
        },
        JSON.parse(text) as unknown,
        ids[file],
      );
    });
  }
});
