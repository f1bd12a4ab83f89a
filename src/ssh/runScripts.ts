// The other scripts of the detached-run protocol (detachedRun.ts): kill a run's process group,
// peek at a run's state, read part of its output, keep its output within the cap, sweep old runs.
import type { PeekState } from './detachedRun.js';
import { AWAIT_FATE, checkRunId, outputCap, POLL, posixPrelude } from './scriptParts.js';

/**
 * TERM each run's group, wait up to graceS for it to go, then KILL; all runs at once. A run
 * nobody launched yet is claimed by the kill and never starts. Prints "<runId> <verdict>: ..."
 * per run; the verdict is preempted | finished | gone | terminated | killed | failed.
 */
export function killScript(runIds: string | readonly string[], opts: { graceS?: number; baseDir?: string } = {}): string {
  const ids = typeof runIds === 'string' ? [runIds] : runIds;
  ids.forEach(checkRunId);
  const polls = Math.max(0, Math.round((opts.graceS ?? 5) * 20));
  // Each poll also runs ps, so on a loaded node 100 polls take far longer than 5 s: a wall-clock
  // deadline (whole seconds, hence +1) bounds the grace too. It lasts [graceS, ceil(graceS) + 1] s.
  const graceCeilS = Math.ceil(opts.graceS ?? 5) + 1;
  return `${posixPrelude(opts.baseDir)}
cf_kill() {
  P="$B/$1"; R=$1
  set -C
  if { echo $$ >"$P.claim"; } 2>/dev/null; then set +C; : >"$P.skip"; echo "$R preempted: it had not started and never will"; return 0; fi
  set +C
  cf_read_claim
  if [ -n "$RC" ]; then echo "$R finished: the run had already exited"; return 0; fi
  # Written first: a launcher that has claimed but not yet started the command sees it.
  echo TERM >"$P.kill"
  ${AWAIT_FATE}
  if [ -e "$P.skip" ] && [ -z "$G" ]; then echo "$R preempted: it had not started and never will"; return 0; fi
  # A group that ended by itself keeps its own verdict (done or lost), not "killed".
  if ! cf_alive; then [ -n "$G" ] && rm -f "$P.kill"; echo "$R gone: no live process in group \${G:-?}"; return 0; fi
  kill -TERM -"$G" 2>/dev/null
  D=$(($(date +%s) + ${graceCeilS}))
  i=0; while cf_alive && [ $i -lt ${polls} ] && [ "$(date +%s)" -lt "$D" ]; do ${POLL}; i=$((i + 1)); done
  if ! cf_alive; then echo "$R terminated: group $G exited after TERM"; return 0; fi
  echo KILL >"$P.kill"; kill -KILL -"$G" 2>/dev/null
  i=0; while cf_alive && [ $i -lt 40 ]; do ${POLL}; i=$((i + 1)); done
  if cf_alive; then echo "$R failed: group $G survived KILL"; return 1; fi
  echo "$R killed: group $G ignored TERM for ${polls / 20}s, sent KILL"
}
[ -d "$B" ] || (umask 077; mkdir -p "$B") 2>/dev/null
${ids.length === 1 ? `cf_kill ${ids[0]}` : `${ids.map((id) => `cf_kill ${id} &`).join('\n')}\nwait`}`;
}

/**
 * Claim each run nobody launched yet, so that it never starts; a run someone claimed is left
 * alone (its launcher runs it, or ran it). For launches a dead process journaled: they may or
 * may not have reached the node. Prints "<runId> preempted" or "<runId> claimed" per run.
 */
export function preemptScript(runIds: readonly string[], opts: { baseDir?: string } = {}): string {
  runIds.forEach(checkRunId);
  return `${posixPrelude(opts.baseDir)}
[ -d "$B" ] || (umask 077; mkdir -p "$B") 2>/dev/null
set -C
for R in ${runIds.join(' ')}; do
  P="$B/$R"
  if { echo $$ >"$P.claim"; } 2>/dev/null; then : >"$P.skip"; echo "$R preempted"; else echo "$R claimed"; fi
done`;
}

/**
 * Keep run output files on the node within `maxOutput` bytes per stream: every run file of the
 * base dir over it is cut back to it (and its run marked `.capped`). With `watch`, again every
 * 0.25 s while any of `runIds` is still running (a command printing fast for long would
 * otherwise fill the disk before it ends); without, once. One `find` per round for all runs.
 */
export function capScript(runIds: readonly string[], opts: { maxOutput?: number; baseDir?: string; watch?: boolean } = {}): string {
  runIds.forEach(checkRunId);
  const m = outputCap(opts.maxOutput);
  return `${posixPrelude(opts.baseDir)}
[ -d "$B" ] || exit 0
while :; do
  find "$B" -maxdepth 1 -type f \\( -name '*.out' -o -name '*.err' \\) -size +${m}c 2>/dev/null | while IFS= read -r F; do
    dd if=/dev/null of="$F" bs=1 seek=${m} count=0 2>/dev/null && : >"\${F%.*}.capped"
  done
  ${opts.watch ? '' : 'break'}
  live=0
  for R in ${runIds.join(' ')}; do
    P="$B/$R"; [ -e "$P.claim" ] && [ ! -e "$P.skip" ] || continue
    cf_read_claim; if [ -z "$RC" ]; then live=1; break; fi
  done
  [ $live = 1 ] || break
  sleep 0.25
  printf . || exit 0
done`;
}

/** Prints 'absent' | 'running' | 'done <rc>' | 'killed <SIG>' | 'lost' | 'skipped' (parse with parsePeek). */
export function peekScript(runId: string, baseDir?: string): string {
  checkRunId(runId);
  return `${posixPrelude(baseDir)}
P="$B"/${runId}
if [ ! -e "$P.claim" ]; then echo absent; exit 0; fi
cf_read_claim
if [ -e "$P.skip" ] && [ -z "$G" ]; then echo skipped; exit 0; fi
K=; [ -s "$P.kill" ] && read -r K <"$P.kill"
if [ -n "$K" ] && ! { [ -z "$RC" ] && cf_alive; }; then echo "killed SIG$K"; exit 0; fi
if [ -n "$RC" ]; then echo "done $RC"; exit 0; fi
if [ -z "$G" ] || cf_alive; then echo running; exit 0; fi
# The group is gone: its launcher may have written the exit code since the claim was read.
cf_read_claim
if [ -n "$RC" ]; then echo "done $RC"; else echo lost; fi`;
}

/**
 * Part of a run's output file, while it runs or after: prints "size <bytes so far> <running|ended>"
 * (or "absent" when no run has that id), a newline, then up to `limit` bytes from `offset`
 * (parse with parseTail). A file longer than the output cap is read only up to the cap.
 */
export function tailScript(runId: string, stream: 'stdout' | 'stderr', offset: number, limit: number, baseDir?: string, maxOutput?: number): string {
  checkRunId(runId);
  const cap = outputCap(maxOutput);
  const from = Math.max(0, Math.floor(offset));
  const count = Math.max(0, Math.min(Math.floor(limit), cap - from));
  return `${posixPrelude(baseDir)}
P="$B"/${runId}; F="$P.${stream === 'stdout' ? 'out' : 'err'}"
if [ ! -e "$P.claim" ]; then echo absent; exit 0; fi
cf_read_claim
S=0; if [ -e "$F" ]; then S=$(wc -c <"$F"); S=$((S + 0)); fi
[ "$S" -gt ${cap} ] && S=${cap}
E=running; if [ -n "$RC" ] || [ -e "$P.skip" ] || [ -s "$P.kill" ]; then E=ended; fi
echo "size $S $E"
if [ "$S" -gt ${from} ]; then tail -c +${from + 1} "$F" | head -c ${count}; fi`;
}

export function parseTail(out: Buffer): { size: number; running: boolean; data: Buffer } | null {
  const nl = out.indexOf(0x0a);
  const head = out.subarray(0, nl < 0 ? out.length : nl).toString();
  const m = /^size (\d+)(?: (running|ended))?$/.exec(head);
  if (!m) return null;
  return { size: Number(m[1]), running: m[2] !== 'ended', data: nl < 0 ? Buffer.alloc(0) : out.subarray(nl + 1) };
}

export function parsePeek(stdout: string): PeekState {
  const line = stdout.trim().split('\n').pop() ?? '';
  const done = /^done (\d+)$/.exec(line);
  if (done) return { state: 'done', returnCode: Number(done[1]) };
  const killed = /^killed (SIG[A-Z0-9]+)$/.exec(line);
  if (killed) return { state: 'killed', signal: killed[1]! };
  if (line === 'absent' || line === 'running' || line === 'lost' || line === 'skipped') return { state: line };
  throw new Error(`unexpected peek output: ${JSON.stringify(stdout.slice(0, 200))}`);
}

/**
 * Delete runs that finished (or vanished) more than olderThanMin minutes ago; prints "removed N".
 * A run's claim is last written when it ends (its exit code); `.rc` files are from runs an older
 * clusterflow launched.
 */
export function cleanupScript(olderThanMin: number, baseDir?: string): string {
  const minutes = Math.max(0, Math.floor(olderThanMin));
  return `${posixPrelude(baseDir)}
cd "$B" 2>/dev/null || { echo "removed 0"; exit 0; }
n=0
for f in $(find . -maxdepth 1 \\( -name '*.rc' -o -name '*.claim' \\) -mmin +${minutes} 2>/dev/null); do
  P=\${f%.*}
  case $f in *.claim) [ -e "$P.rc" ] && continue; cf_read_claim; [ -n "$RC" ] || ! cf_alive || continue ;; esac
  [ -e "$P.claim" ] || [ -e "$P.rc" ] || continue
  rm -f "$P.out" "$P.err" "$P.rc" "$P.kill" "$P.pgid" "$P.skip" "$P.capped" "$P.claim" && n=$((n + 1))
done
echo "removed $n"`;
}
