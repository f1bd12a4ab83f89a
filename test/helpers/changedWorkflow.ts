// A deliberately changed commandWorkflow, for the test that proves replay can fail
// (test/workflows/replayFails.test.ts): it knows the real one's patch, then starts a timer where
// the real one places the command (a local activity), the kind of edit that is unsafe without
// patched(). Bundled on the fly; never registered by a worker.
import { patched, sleep } from '@temporalio/workflow';

export async function commandWorkflow(): Promise<void> {
  patched('dashboard-and-failed-status');
  await sleep('1 second');
}
