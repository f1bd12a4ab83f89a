// The detached-run protocol, shared by SSH and local execution (pure: builds scripts and
// parses their output). Closing an SSH channel does not stop a remote command, and a
// worker can die mid-command; so every command runs in its own session (process group)
// with output and exit status in files on the node, under $B/<runId>.*:
//   .claim  created atomically (noclobber): the first script to create it launches
//   .pgid   "<pgid> <boot id>" of the supervisor, the session leader
//   .out .err   the command's output      .rc  its exit code
//   .kill   the last signal killScript sent (TERM, then KILL)
// A second runScript with the same id re-attaches (waits, prints the same output)
// instead of running the command twice. The result trailer is the last stderr line and
// must agree with the script's exit status, so the command's own output cannot fake it.

import { shq, shqArgs } from './quote.js';

export interface RunSpec {
  /** Unique task id, [A-Za-z0-9._-]+. */
  runId: string;
  command: string;
  cwd?: string;
  env?: Record<string, string>;
  /** Default "$HOME/.cache/clusterflow/runs", expanded on the node; a leading ~/ or $HOME/ is too. */
  baseDir?: string;
}

export interface RunOutput {
  stdout: Buffer;
  stderr: Buffer;
  returnCode: number | null;
  signal: string | null;
  reattached: boolean;
  /** The outcome is unknown: the trailer is missing, or the group vanished without an exit code. */
  lost: boolean;
}

export type PeekState =
  | { state: 'absent' | 'running' | 'lost' }
  | { state: 'done'; returnCode: number }
  | { state: 'killed'; signal: string };

const TRAILER = '\x1eCLUSTERFLOW-RUN ';
const TRAILER_RE = /^\x1eCLUSTERFLOW-RUN st=(done|killed|lost) rc=(-|\d+) sig=(-|SIG[A-Z0-9]+) re=([01]) x=(\d+)\n$/;
const POLL = 'sleep 0.05';

function checkRunId(runId: string): void {
  if (!/^[A-Za-z0-9._-]{1,200}$/.test(runId)) throw new Error(`invalid run id ${JSON.stringify(runId)}: use [A-Za-z0-9._-]+`);
}

function baseDirWord(baseDir?: string): string {
  if (baseDir === undefined) return '"$HOME"/.cache/clusterflow/runs';
  const home = /^(?:~|\$HOME)(\/.*)?$/.exec(baseDir);
  if (home) return home[1] ? `"$HOME"${shq(home[1])}` : '"$HOME"';
  return shq(baseDir);
}

/** Variables B (base dir), P (path prefix of this run), BOOT (this boot's id). */
function prelude(runId: string, baseDir?: string): string {
  checkRunId(runId);
  return [
    'umask 077',
    `B=${baseDirWord(baseDir)}; P="$B"/${runId}`,
    // A pgid recorded before a reboot names nobody (or a stranger): the boot id tells.
    'BOOT=; if [ -r /proc/sys/kernel/random/boot_id ]; then read -r BOOT </proc/sys/kernel/random/boot_id; ' +
      'else BOOT=$(sysctl -n kern.boottime 2>/dev/null | tr -d " "); fi',
  ].join('\n');
}

// Is group $G (recorded on boot $GB) still running? kill -0 is a free negative check;
// ps then skips zombies, which an init that does not reap would keep forever.
const ALIVE_FN = `cf_alive() {
  [ -n "$G" ] && [ "$GB" = "$BOOT" ] && kill -0 -"$G" 2>/dev/null || return 1
  command -v ps >/dev/null 2>&1 || return 0
  ps -A -o pgid= -o stat= 2>/dev/null | awk -v g="$G" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'
}
cf_read_pgid() { G=; GB=; [ -s "$P.pgid" ] && read -r G GB <"$P.pgid"; }`;

// Wait up to 10 s for the supervisor to record the pgid (the launcher may be between claim
// and launch, slowly on a loaded node).
const AWAIT_PGID = `i=0; while [ ! -s "$P.pgid" ] && [ ! -s "$P.rc" ] && [ $i -lt 200 ]; do ${POLL}; i=$((i + 1)); done`;

// Runs as session leader, in bash. It records its own pid as the pgid (so a recorded pgid
// always names a live group or a finished one, never a process still on its way to setsid)
// and gives up if a kill came first. Then it applies cwd/env, runs the command in a subshell (a fork,
// cheaper than exec'ing a second bash; same semantics as bash -c), records its exit code. It
// traps TERM (a subshell resets caught signals to default) so that a command that exits on
// TERM still gets its exit code recorded. The .rc file is written by one small write and
// readers test -s, so no reader sees a partial code without the fork of tmp + mv.
const SUPERVISOR = `__cf_P=$1; __cf_C=$3; __cf_D=$4
echo "$$ $2" >"$__cf_P.pgid"
[ -e "$__cf_P.kill" ] && exit 143
shift 4
for __cf_kv do export "$__cf_kv"; done
trap 'T=1' TERM
if [ -n "$__cf_D" ] && ! cd "$__cf_D" 2>/dev/null; then
  printf 'clusterflow: cannot cd to %s (missing or not permitted); the command was not run\\n' "$__cf_D" >&2; __cf_rc=1
else ( unset __cf_P __cf_D __cf_kv __cf_rc; set --; trap - TERM; eval "$__cf_C" ); __cf_rc=$?; fi
echo "$__cf_rc" >"$__cf_P.rc"
exit "$__cf_rc"`;

function trailer(st: string, rc: string, sig: string, re: string, x: string): string {
  return `printf '\\036CLUSTERFLOW-RUN st=%s rc=%s sig=%s re=%s x=%s\\n' ${st} ${rc} ${sig} ${re} ${x} >&2`;
}

/** POSIX sh script: launch the command detached, or re-attach to it; print its output and a trailer. */
export function runScript(spec: RunSpec): string {
  const env = Object.entries(spec.env ?? {}).map(([k, v]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`invalid environment variable name ${JSON.stringify(k)}`);
    return `${k}=${v}`;
  });
  const supArgs = shqArgs([spec.command, spec.cwd ?? '', ...env]);
  // setsid(1) does not fork here (a background job is never a group leader), so `wait $!`
  // waits for the supervisor itself. macOS has no setsid binary: perl's POSIX::setsid does the same.
  const launch = (prefix: string) =>
    `${prefix} bash -c "$SUP" bash "$P" "$BOOT" ${supArgs} </dev/null >"$P.out" 2>"$P.err" &`;
  return `${prelude(spec.runId, spec.baseDir)}
${ALIVE_FN}
[ -d "$B" ] || mkdir -p "$B" 2>/dev/null || { printf 'clusterflow: cannot create the run directory %s\\n' "$B" >&2; ${trailer('done', '125', '-', '0', '125')}; exit 125; }
command -v bash >/dev/null 2>&1 || { printf 'clusterflow: bash not found on this node (PATH=%s)\\n' "$PATH" >&2; ${trailer('done', '127', '-', '0', '127')}; exit 127; }
SUP=${shq(SUPERVISOR)}
set -C
if { echo $$ >"$P.claim"; } 2>/dev/null; then
  set +C; RE=0
  # A kill that came between our claim and the launch: do not start (the supervisor checks again).
  if [ ! -e "$P.kill" ]; then
    if command -v setsid >/dev/null 2>&1; then ${launch('setsid')}
    else ${launch(`perl -MPOSIX -e 'POSIX::setsid(); exec @ARGV or die "exec: $!\\n"'`)}
    fi
    wait $!
  fi
else
  set +C; RE=1
  ${AWAIT_PGID}
  cf_read_pgid
  while [ ! -s "$P.rc" ] && cf_alive; do ${POLL}; done
fi
RC=; [ -s "$P.rc" ] && read -r RC <"$P.rc"
case $RC in *[!0-9]*) RC= ;; esac
K=; [ -s "$P.kill" ] && read -r K <"$P.kill"
# Being killed: report once the whole group is gone, with the signal that ended it.
if [ -n "$K" ]; then cf_read_pgid; while cf_alive; do ${POLL}; done; read -r K <"$P.kill"; fi
[ -s "$P.out" ] && cat "$P.out"
[ -s "$P.err" ] && cat "$P.err" >&2
if [ -n "$K" ]; then ST=killed; SIG=SIG$K; if [ -n "$RC" ]; then X=$RC; elif [ "$K" = TERM ]; then X=143; else X=137; fi
elif [ -n "$RC" ]; then ST=done; SIG=-; X=$RC
else ST=lost; SIG=-; X=255; fi
${trailer('"$ST"', '"${RC:--}"', '"$SIG"', '"$RE"', '"$X"')}
exit "$X"`;
}

/** TERM the run's group, wait up to graceS for it to go, then KILL; prints what it did. */
export function killScript(runId: string, opts: { graceS?: number; baseDir?: string } = {}): string {
  const polls = Math.max(0, Math.round((opts.graceS ?? 5) * 20));
  // Each poll also runs ps, so on a loaded node 100 polls take far longer than 5 s: a wall-clock
  // deadline (whole seconds, hence +1) bounds the grace too. It lasts [graceS, ceil(graceS) + 1] s.
  const graceCeilS = Math.ceil(opts.graceS ?? 5) + 1;
  return `${prelude(runId, opts.baseDir)}
${ALIVE_FN}
if [ ! -e "$P.claim" ]; then echo "absent: no run ${runId}"; exit 0; fi
if [ -s "$P.rc" ]; then echo "finished: the run had already exited"; exit 0; fi
# Written first: a launcher that has claimed but not yet started the command sees it.
echo TERM >"$P.kill"
${AWAIT_PGID}
cf_read_pgid
# A group that ended by itself keeps its own verdict (done or lost), not "killed".
if ! cf_alive; then [ -n "$G" ] && rm -f "$P.kill"; echo "gone: no live process in group \${G:-?}"; exit 0; fi
kill -TERM -"$G" 2>/dev/null
D=$(($(date +%s) + ${graceCeilS}))
i=0; while cf_alive && [ $i -lt ${polls} ] && [ "$(date +%s)" -lt "$D" ]; do ${POLL}; i=$((i + 1)); done
if ! cf_alive; then echo "terminated: group $G exited after TERM"; exit 0; fi
echo KILL >"$P.kill"; kill -KILL -"$G" 2>/dev/null
i=0; while cf_alive && [ $i -lt 40 ]; do ${POLL}; i=$((i + 1)); done
if cf_alive; then echo "failed: group $G survived KILL"; exit 1; fi
echo "killed: group $G ignored TERM for ${polls / 20}s, sent KILL"`;
}

/** Prints 'absent' | 'running' | 'done <rc>' | 'killed <SIG>' | 'lost' (parse with parsePeek). */
export function peekScript(runId: string, baseDir?: string): string {
  return `${prelude(runId, baseDir)}
${ALIVE_FN}
if [ ! -e "$P.claim" ]; then echo absent; exit 0; fi
K=; [ -s "$P.kill" ] && read -r K <"$P.kill"
RC=; [ -s "$P.rc" ] && read -r RC <"$P.rc"
if [ -n "$K" ] && ! { [ -z "$RC" ] && cf_read_pgid && cf_alive; }; then echo "killed SIG$K"; exit 0; fi
if [ -n "$RC" ]; then echo "done $RC"; exit 0; fi
if [ ! -s "$P.pgid" ]; then echo running; exit 0; fi
cf_read_pgid
if cf_alive; then echo running; else echo lost; fi`;
}

export function parsePeek(stdout: string): PeekState {
  const line = stdout.trim().split('\n').pop() ?? '';
  const done = /^done (\d+)$/.exec(line);
  if (done) return { state: 'done', returnCode: Number(done[1]) };
  const killed = /^killed (SIG[A-Z0-9]+)$/.exec(line);
  if (killed) return { state: 'killed', signal: killed[1]! };
  if (line === 'absent' || line === 'running' || line === 'lost') return { state: line };
  throw new Error(`unexpected peek output: ${JSON.stringify(stdout.slice(0, 200))}`);
}

/** Delete runs that finished (or vanished) more than olderThanMin minutes ago; prints "removed N". */
export function cleanupScript(olderThanMin: number, baseDir?: string): string {
  const minutes = Math.max(0, Math.floor(olderThanMin));
  return `${prelude('cleanup', baseDir)}
${ALIVE_FN}
cd "$B" 2>/dev/null || { echo "removed 0"; exit 0; }
n=0
for f in $(find . -maxdepth 1 \\( -name '*.rc' -o -name '*.claim' \\) -mmin +${minutes} 2>/dev/null); do
  P=\${f%.*}
  case $f in *.claim) [ -e "$P.rc" ] && continue; cf_read_pgid; cf_alive && continue ;; esac
  [ -e "$P.claim" ] || [ -e "$P.rc" ] || continue
  rm -f "$P.out" "$P.err" "$P.rc" "$P.kill" "$P.pgid" "$P.claim" && n=$((n + 1))
done
echo "removed $n"`;
}

/** Split the script's output into the command's output and its result (strips the trailer). */
export function parseRunOutput(stdout: Buffer, stderr: Buffer, exit: { code: number | null; signal: string | null }): RunOutput {
  const at = stderr.lastIndexOf(TRAILER);
  const m = at >= 0 ? TRAILER_RE.exec(stderr.subarray(at).toString('latin1')) : null;
  if (!m || exit.code === null || Number(m[5]) !== exit.code) {
    return { stdout, stderr, returnCode: exit.code, signal: exit.signal, reattached: false, lost: true };
  }
  const [, st, rc, sig, re] = m;
  return {
    stdout,
    stderr: stderr.subarray(0, at),
    returnCode: rc === '-' ? null : Number(rc),
    signal: sig === '-' ? null : sig!,
    reattached: re === '1',
    lost: st === 'lost',
  };
}
