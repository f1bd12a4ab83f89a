// V8 heap settings of the long-running processes (serve, worker). Their JavaScript heap is
// mostly the code and data of the libraries they load (~45 MiB alive when idle); a big fan-out
// adds little that stays alive but much that lives for a batch, reaches the old generation and
// dies there. V8 lets the old generation grow to up to ~2-4× what was alive after the last full
// collection before collecting again, so a 10,000-command fan-out took serve from ~210 to ~360
// MiB resident. Set here, before any worker thread exists (V8 reads a flag when it needs it:
// the growth at each full collection, the young generation's size when an isolate is created).
import { setFlagsFromString } from 'node:v8';

/**
 * The old generation may grow this much over what the last full collection left alive (V8
 * otherwise picks 10-300 % from its collection and allocation speeds; it never goes below its
 * own minimum step of a few MiB, so a small heap is not collected over and over). With 30 %, a
 * 10,000 × `true` fan-out's peak fell from 341-364 to 269-282 MiB at the same throughput (3
 * runs each, alternating); the extra full collections of a ~45 MiB heap cost ~1 % of the run.
 */
export const OLD_GENERATION_GROWTH_PERCENT = 30;

/**
 * Young generation (MiB per semi-space) of the workflow threads the Temporal SDK creates in
 * Worker.create. Node's default (16, so 32 MiB resident once grown) is sized for a main thread;
 * a workflow thread keeps ~25 MiB alive and its garbage is short-lived, so 4 costs it nothing
 * measurable and the process ~24 MiB. The main isolate, created before this runs, keeps its size.
 */
export const WORKFLOW_THREAD_SEMI_SPACE_MIB = 4;

export function tuneHeapForService(): void {
  setFlagsFromString(`--heap-growing-percent=${OLD_GENERATION_GROWTH_PERCENT}`);
  setFlagsFromString(`--max-semi-space-size=${WORKFLOW_THREAD_SEMI_SPACE_MIB}`);
}
