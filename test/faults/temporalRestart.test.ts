// Fault: the embedded Temporal dev server stops mid-task and the next CLI call starts it again
// on the same state dir (its sqlite db persists). Tasks started before the restart must
// complete after it, once each, and the MCP server's in-process worker and client must
// reconnect. Two shapes: a command still running when the server returns (its attempt
// reports normally), and one that finished while the server was down (its completion was
// lost: the heartbeat timeout retries the attempt, which collects the finished result).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stopEmbeddedServer } from '../../src/temporal/embedded.js';
import { freePort } from '../../src/temporal/ports.js';
import { structured } from '../helpers/harness.js';
import { faultSummary, sleep, startFaultHarness, startTask, waitFor, type FaultHarness } from '../helpers/faults.js';

interface Status {
  task_id: string;
  state: string;
  success?: boolean;
  stdout?: string;
  error?: string | null;
}

/**
 * Shorter than the downtime, so the server gives up on the running attempts when it returns:
 * the old attempt must let go of its command (not kill it) and the retry re-attach. Also bounds
 * how long a completion lost while the server was down takes to be collected (default 20 s).
 */
const HEARTBEAT_TIMEOUT_S = 3;
const DOWN_MS = 3000;

describe('faults: Temporal restarts mid-task', () => {
  let h: FaultHarness;
  const tag = randomBytes(4).toString('hex');
  let home = '';
  const cases = [
    { name: 'running through the restart', sleepS: 8 },
    { name: 'finished while the server was down', sleepS: 1 },
  ];
  before(async () => {
    // Fixed ports: the restarted server must come back where the running worker looks for it.
    const [port, uiPort] = [await freePort(), await freePort()];
    h = await startFaultHarness({
      nodes: 1,
      env: {
        CLUSTERFLOW_TEMPORAL_PORT: String(port),
        CLUSTERFLOW_TEMPORAL_UI_PORT: String(uiPort),
        CLUSTERFLOW_HEARTBEAT_TIMEOUT_S: String(HEARTBEAT_TIMEOUT_S),
      },
    });
    const user = h.cluster.nodes[0]!.user;
    home = userInfo().username === user ? userInfo().homedir : `/home/${user}`;
  });
  after(async () => {
    for (let i = 0; i < cases.length; i++) await rm(path.join(home, `restart-${tag}-${i}`), { force: true });
    await h?.close();
  });

  const status = async (id: string): Promise<Status> => {
    const res = await h.cli(['status', id, '--json']);
    assert.equal(res.code, 0, res.stderr);
    return JSON.parse(res.stdout) as Status;
  };
  const starts = async (i: number) =>
    (await readFile(path.join(home, `restart-${tag}-${i}`), 'utf8').catch(() => '')).split('\n').filter((l) => l === 'start').length;

  it('tasks started before the restart complete after it, once each', async (t) => {
    const ids = await Promise.all(
      cases.map((c, i) =>
        startTask(h, 'offload_to', { node_id: 'n1', command: `echo start >> ~/restart-${tag}-${i}; echo before; sleep ${c.sleepS}; echo after` }),
      ),
    );
    await waitFor('the commands to start on n1', async () => (await starts(0)) > 0 && (await starts(1)) > 0, 20_000);

    const stoppedAt = Date.now();
    assert.equal(await stopEmbeddedServer(h.stateDir), true, 'no embedded server was running');
    await sleep(DOWN_MS); // the worker's polls, heartbeats and the short task's completion fail meanwhile

    // The CLI finds no server answering and starts one on the same state dir and port.
    const during = await status(ids[0]!);
    t.diagnostic(`server stopped, restarted by the CLI ${Date.now() - stoppedAt} ms later; long task then: ${during.state}`);
    assert.equal(during.state, 'running', JSON.stringify(during));

    const done = await Promise.all(
      ids.map((id, i) =>
        waitFor(
          `task ${i} to finish`,
          async () => {
            const s = await status(id);
            return s.state !== 'running' && { ...s, afterMs: Date.now() - stoppedAt };
          },
          60_000,
          500,
        ),
      ),
    );
    const counts = { tasks: cases.length + 1, lost: 0, duplicated: 0, stray: 0, retried: 0 };
    for (const [i, c] of cases.entries()) {
      const history = await h.temporal(['workflow', 'show', '-w', ids[i]!, '-o', 'json']);
      const attempt = Math.max(0, ...[...history.stdout.matchAll(/"attempt":\s*(\d+)/g)].map((m) => Number(m[1])));
      const n = await starts(i);
      t.diagnostic(`${c.name}: ${done[i]!.state} ${done[i]!.afterMs} ms after the stop, runCommand attempt ${attempt}, ran ${n}x`);
      if (done[i]!.state !== 'completed') counts.lost++;
      if (n > 1) counts.duplicated++;
      if (attempt > 1) counts.retried++;
      assert.equal(done[i]!.state, 'completed', JSON.stringify(done[i]));
      assert.equal(done[i]!.stdout, 'before\nafter\n');
      assert.equal(n, 1, `${c.name}: the command ran ${n} times`);
    }

    // The MCP server's own client and worker came back too: a new task runs end to end.
    const again = structured<Status>(await h.mcp.callTool({ name: 'offload_to', arguments: { node_id: 'n1', command: 'echo after-restart', wait_s: 60 } }));
    if (again.state !== 'completed') counts.lost++;
    faultSummary('temporal-restart', counts);
    assert.equal(again.state, 'completed', `the MCP server did not recover: ${JSON.stringify(again)}\n${h.serverStderr().slice(-2000)}`);
    assert.equal(again.stdout, 'after-restart\n');
  });
});
