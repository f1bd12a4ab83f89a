// V8 heap settings of the long-running processes (serve, worker). Their JavaScript heap is
// mostly the code and data of the libraries they load (~45 MiB alive when idle); a big fan-out
// adds little that stays alive but much that lives for a batch, reaches the old generation and
// dies there. V8 lets the old generation grow to up to ~2-4× what was alive after the last full
// collection before collecting again, so a 10,000-command fan-out took serve from ~210 to ~360
// MiB resident. Set here, before any worker thread exists (V8 reads a flag when it needs it:
// the growth at each full collection, the young generation's size when an isolate is created).
// What only a process's start can set, bin/cluster-router sets: glibc's mmap threshold and the
// main isolate's young generation (see there).
import { setFlagsFromString } from 'node:v8';
import { takeLaunchMark } from '../env.js';

/**
 * The old generation may grow this much over what the last full collection left alive (V8
 * otherwise picks 10-300 % from its collection and allocation speeds; it never goes below its
 * own minimum step of a few MiB, so a small heap is not collected over and over). With 30 %, a
 * 10,000 × `true` fan-out's peak fell from 341-364 to 269-282 MiB at the same throughput within
 * this host's noise (3 runs each, alternating). The price is CPU: in one profiled bench run
 * (warm-ups, a 300-command fan-out, one of 10,000) serve's main thread spent 1.85 s in GC
 * against 1.48 s, ~2 % of its busy time.
 */
export const OLD_GENERATION_GROWTH_PERCENT = 30;

/**
 * Young generation (MiB per semi-space) of the workflow threads the Temporal SDK creates in
 * Worker.create. Node's default (16, so 32 MiB resident once grown) is sized for a main thread;
 * a workflow thread keeps ~25 MiB alive and its garbage is short-lived: 4 saves the process ~24
 * MiB for more frequent scavenges (0.35 → 0.7 s of GC in that thread over the run above). The
 * main isolate, created before this runs, keeps the size its command line gave it (8 from
 * bin/cluster-router).
 */
export const WORKFLOW_THREAD_SEMI_SPACE_MIB = 4;

/**
 * Call first thing in serve and the worker. Answers a line for the log when bin/cluster-router
 * did not start this process (say, `node dist/src/cli/main.js serve`): it runs, with more memory.
 */
export function tuneHeapForService(): string | undefined {
  setFlagsFromString(`--heap-growing-percent=${OLD_GENERATION_GROWTH_PERCENT}`);
  setFlagsFromString(`--max-semi-space-size=${WORKFLOW_THREAD_SEMI_SPACE_MIB}`);
  if (takeLaunchMark()) return undefined;
  return (
    "started without bin/cluster-router, so glibc's malloc and V8 keep the settings it gives a long-running process: " +
    'through a big fan-out this process stays some 40 MiB bigger. Start it as bin/cluster-router (or the installed cluster-router)'
  );
}
