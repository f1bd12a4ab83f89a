// A fast-path run whose workflow closed before its runCommand activity reached it (cancelled or
// terminated right after the start) would run on with nobody to stop it: kill it.
import type { Client } from '@temporalio/client';
import { execFor } from '../engine/exec.js';
import { KILL_GRACE_S, runIdFor } from '../engine/runChunk.js';
import { log } from '../log.js';
import type { Services } from '../runtime/services.js';
import type { CommandResult, NodeConfig } from '../shared.js';
import { killScript } from '../ssh/detachedRun.js';

/** Waits for the workflow to close; if the run is still going then (`settled` false) and no exit code was recorded, kills it. */
export async function killIfAbandoned(rt: Services, client: Client, node: NodeConfig, taskId: string, settled: () => boolean): Promise<void> {
  let ended: CommandResult | undefined;
  try {
    ended = (await client.workflow.getHandle(taskId).result()) as CommandResult;
  } catch {
    // Cancelled, terminated or timed out: ended stays undefined.
  }
  // A result with an exit code means the activity saw the run end.
  if (settled() || (ended && ended.return_code !== null)) return;
  let said = '';
  try {
    const exec = await execFor(rt, node);
    await exec(killScript(runIdFor(taskId), { graceS: KILL_GRACE_S, baseDir: node.local ? rt.localRunsDir : undefined }), {
      onStdout: (b: Buffer) => {
        said += b.toString();
      },
    });
  } catch (err) {
    said = String(err);
  }
  log.info({ taskId, said: said.trim() }, 'stopped a fast-path run that its workflow never reached');
}
