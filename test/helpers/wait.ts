// Waiting in tests. A test that needs something to have happened (a worker up, a command
// running, a file written) polls for exactly that, with a deadline and a message naming it:
// waitFor. sleep is for time that is itself the scenario (a fault held for N s, a window in
// which nothing may happen, a new mtime second), never to let something happen.

/** Resolves after `ms`. Say at the call why the time is the point. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Ask `probe` every `everyMs` until it gives a truthy value, and return that value; after `ms`
 * without one, fail with "timed out after <ms> ms waiting for <what>".
 */
export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, ms: number, everyMs = 50): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
