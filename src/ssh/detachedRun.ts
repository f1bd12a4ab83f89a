// The detached-run protocol, shared by SSH and local execution (pure: builds scripts and
// parses their output). Closing an SSH channel does not stop a remote command, and a
// worker can die mid-command; so every command runs in its own process group with output
// and exit status in files on the node, under $B/<runId>.*:
//   .claim  created atomically (noclobber) with the creator's pid: whoever creates it decides the run's fate
//   .pgid   "<pgid> <boot id>" of the supervisor, the group leader
//   .out .err   the command's output      .rc  its exit code
//   .kill   the last signal killScript sent (TERM, then KILL)
//   .skip   a kill claimed the run first: it never starts
// A second run script with the same id re-attaches (waits, prints the same output)
// instead of running the command twice.
//
// One exec runs a chunk of commands one after another (a fan-out sends several per exec:
// the exec and the shell start are most of the cost of a short command). Each run is framed
// on both streams by lines that carry a per-exec random nonce, so a command's own output
// cannot end its frame by accident:
//   stdout  \x1e<nonce> S <i>\n   the run starts (its timeout counts from here; sent with the E of run i-1)
//           <the command's stdout>\x1e<nonce> E <i>\n
//   stderr  <the command's stderr>\x1e<nonce> E <i> st=<st> rc=<rc> sig=<sig> re=<0|1>\n

import { randomBytes } from 'node:crypto';
import { RESERVED_ENV } from '../shared.js';
import { bashqArgs, shq } from './quote.js';

export interface RunSpec {
  /** Unique task id, [A-Za-z0-9._-]+. */
  runId: string;
  command: string;
  cwd?: string;
  env?: Record<string, string>;
}

export interface ChunkOptions {
  /** From newNonce(): marks this exec's frames. */
  nonce: string;
  /** Default "$HOME/.cache/clusterflow/runs", expanded on the node; a leading ~/ or $HOME/ is too. */
  baseDir?: string;
  /** Bytes of each stream sent back per run at most (CLUSTERFLOW_MAX_OUTPUT); default 256 MiB. */
  maxOutput?: number;
  /**
   * Start no run before a line "go" arrives on stdin; anything else (or EOF) ends the script
   * with nothing started. The exec and the shell can then be under way before the caller
   * knows whether the commands may run.
   */
  gate?: boolean;
}

export type RunState = 'done' | 'killed' | 'lost' | 'skipped';

export interface RunOutput {
  stdout: Buffer;
  stderr: Buffer;
  /** done: exited; killed: by killScript; lost: the group vanished without an exit code; skipped: a kill came first, it never ran. */
  state: RunState;
  returnCode: number | null;
  signal: string | null;
  reattached: boolean;
  /** The node cut the run's output back to the cap (capScript): more was printed than kept. */
  capped?: boolean;
}

export type PeekState =
  | { state: 'absent' | 'running' | 'lost' | 'skipped' }
  | { state: 'done'; returnCode: number }
  | { state: 'killed'; signal: string };

const POLL = 'sleep 0.05';

export const newNonce = (): string => `CF${randomBytes(9).toString('hex')}`;

function checkRunId(runId: string): void {
  if (!/^[A-Za-z0-9._-]{1,200}$/.test(runId)) throw new Error(`invalid run id ${JSON.stringify(runId)}: use [A-Za-z0-9._-]+`);
}

function envPairs(env: Record<string, string> | undefined): string[] {
  return Object.entries(env ?? {}).map(([k, v]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`invalid environment variable name ${JSON.stringify(k)}`);
    if (RESERVED_ENV.test(k)) throw new Error(`environment variable name ${JSON.stringify(k)} is reserved for clusterflow's runner`);
    return `${k}=${v}`;
  });
}

function baseDirWord(baseDir?: string): string {
  if (baseDir === undefined) return '"$HOME"/.cache/clusterflow/runs';
  const home = /^(?:~|\$HOME)(\/.*)?$/.exec(baseDir);
  if (home) return home[1] ? `"$HOME"${shq(home[1])}` : '"$HOME"';
  return shq(baseDir);
}

// A pgid recorded before a reboot names nobody (or a stranger): the boot id tells.
const READ_BOOT = 'BOOT=; if [ -r /proc/sys/kernel/random/boot_id ]; then read -r BOOT </proc/sys/kernel/random/boot_id; ' +
  'else BOOT=$(sysctl -n kern.boottime 2>/dev/null | tr -d " "); fi';

/** POSIX sh: variables B (base dir), BOOT (this boot's id), and cf_alive / cf_read_pgid for run path $P. */
function posixPrelude(baseDir?: string): string {
  return `B=${baseDirWord(baseDir)}
${READ_BOOT}
${ALIVE_FN}`;
}

// Is group $G (recorded on boot $GB) still running? kill -0 is a free negative check;
// ps then skips zombies, which an init that does not reap would keep forever.
// (Every statement ends with ";": the chunk runner joins it onto one line, see flat().)
const ALIVE_FN = `cf_alive() {
  [ -n "$G" ] && [ "$GB" = "$BOOT" ] && kill -0 -"$G" 2>/dev/null || return 1;
  command -v ps >/dev/null 2>&1 || return 0;
  ps -A -o pgid= -o stat= 2>/dev/null | awk -v g="$G" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }';
};
cf_read_pgid() { G=; GB=; [ -s "$P.pgid" ] && read -r G GB <"$P.pgid"; };`;

// Wait up to 10 s for the run's fate to be written (a launcher between claim and launch may
// be slow on a loaded node).
const AWAIT_FATE = `i=0; while [ ! -s "$P.pgid" ] && [ ! -s "$P.rc" ] && [ ! -e "$P.skip" ] && [ $i -lt 200 ]; do ${POLL}; i=$((i + 1)); done`;

// The chunk runner, in bash (one exec of it per chunk). A top-level loop takes each run in turn:
// cf_claim launches or re-attaches to it (it returns 0 when this exec is to launch it), cf_report
// prints its frames. The command runs in a background subshell under `set -m`, so it leads its
// own process group (bash puts it there before it runs a line, so the pgid it records always
// names a live group or a finished one). That subshell gives up if a kill came first, removes
// every name of ours, then applies the task's env and cwd and evals the command (same semantics
// as bash -c; a fork is far cheaper than an exec). The command and cwd are taken from the
// arguments after the env is exported, under names no task may use (__cf_*): a task's env can
// neither replace them nor lose a variable of its own to our cleanup. The loop records the exit
// code from `wait`: it is in no run's group, so a kill does not touch it, and a closed channel
// does not stop it before that write (it dies on the next frame it prints). The .rc file is one
// small write and readers test -s, so no reader sees a partial code. Only the directory is
// private (700): the command keeps the login shell's umask.
//
// The user's messages must read as under `bash -c "<command>"` ("bash: line 1: cargo: command
// not found"), never with the runner's internals ("environment: line 86"): bash names errors in
// a function after its source ("environment" for a -c string) and numbers the lines of eval'd
// text from the line of the eval. So the eval sits at the top level, not in a function, and the
// whole runner, wrapper included, is ONE line: every command's arguments are bash $'...' words
// (no newline in the script text), and the templates below end each statement with ";" so
// flat() can join their lines. $0 is "bash" on both paths (a bash login shell's own, or the
// exec's). No shell comments inside the templates: on one line they would swallow the rest.
// The eval's string is the command alone (a syntax error echoes the user's line, nothing of
// ours), so __cf_c, the command's own text, stays a shell variable (never exported) while it runs.
const CHUNK_BODY = `N=$1; B=$2; shift 2;
[ -d "$B" ] || (umask 077; mkdir -p "$B") 2>/dev/null || { printf 'clusterflow: cannot create the run directory %s\\n' "$B" >&2; exit 125; };
${READ_BOOT};
${ALIVE_FN}
cf_claim() {
  I=$1; P=$B/$2;
  [ "$I" = 0 ] && printf '\\036%s S 0\\n' "$N";
  set -C;
  if { echo $$ >"$P.claim"; } 2>/dev/null; then
    set +C; RE=0;
    if [ -e "$P.kill" ]; then : >"$P.skip"; return 1; fi;
    return 0;
  fi;
  set +C; RE=1;
  ${AWAIT_FATE};
  cf_read_pgid;
  L=; read -r L <"$P.claim"; i=0;
  while [ ! -s "$P.rc" ]; do
    if [ $((i % 10)) -ne 0 ] && [ -n "$L" ] && kill -0 "$L" 2>/dev/null; then :; elif ! cf_alive; then break; fi;
    if [ $i -lt 40 ]; then ${POLL}; else sleep 0.2; fi; i=$((i + 1));
  done;
  i=0;
  while [ ! -s "$P.rc" ] && [ -n "$L" ] && kill -0 "$L" 2>/dev/null && [ $i -lt 100 ]; do ${POLL}; i=$((i + 1)); done;
  return 1;
};
cf_report() {
  RC=; [ -s "$P.rc" ] && read -r RC <"$P.rc";
  case $RC in *[!0-9]*) RC= ;; esac;
  K=; [ -s "$P.kill" ] && read -r K <"$P.kill";
  if [ -n "$K" ]; then cf_read_pgid; while cf_alive; do ${POLL}; done; read -r K <"$P.kill"; fi;
  [ -s "$P.out" ] && head -c "$((M + 1))" "$P.out";
  if [ $((I + 1)) -lt "$T" ]; then printf '\\036%s E %s\\n\\036%s S %s\\n' "$N" "$I" "$N" $((I + 1)); else printf '\\036%s E %s\\n' "$N" "$I"; fi;
  [ -s "$P.err" ] && head -c "$((M + 1))" "$P.err" >&2;
  if [ -e "$P.skip" ] && [ ! -s "$P.pgid" ]; then ST=skipped; SIG=-;
  elif [ -n "$K" ]; then ST=killed; SIG=SIG$K;
  elif [ -n "$RC" ]; then ST=done; SIG=-;
  else ST=lost; SIG=-; fi;
  CAP=0; [ -e "$P.capped" ] && CAP=1;
  printf '\\036%s E %s st=%s rc=%s sig=%s re=%s cap=%s\\n' "$N" "$I" "$ST" "\${RC:--}" "$SIG" "$RE" "$CAP" >&2;
};`;
// cf_claim, re-attaching: the launcher (its pid is the claim) writes .rc just after the group
// ends. While it lives, a builtin test per poll does; the group itself (ps) is looked at every
// 10th poll, in case the pid was reused; runs re-attached for long (a head start's, a crashed
// worker's) poll slower; once the group is gone the launcher gets a moment to write the code.
// Run 0 announces itself; each later one is announced with the end of the one before (one write
// less). cf_report: a run being killed is reported once its whole group is gone, with the signal
// that ended it; each stream is sent to one byte past the cap (the reader then knows there was more).

// Per run, in the loop: its arguments (`set -- <run id> <command> <cwd> <env>...`), the launch, the report.
const RUN_LOOP = (cases: string) => `I=0;
while [ "$I" -lt "$T" ]; do
  case $I in ${cases} esac;
  if cf_claim "$I" "$1"; then
    set -m;
    (
      set +m;
      echo "$BASHPID $BOOT" >"$P.pgid";
      [ -e "$P.kill" ] && exit 143;
      unset -v S N B T M BOOT P I RE G GB K RC ST SIG CAP L i; unset -f cf_claim cf_report cf_alive cf_read_pgid;
      for __cf_kv in "\${@:4}"; do export "$__cf_kv"; done;
      __cf_c=$2 __cf_d=$3;
      if [ -n "$__cf_d" ] && ! cd "$__cf_d" 2>/dev/null; then
        printf 'clusterflow: cannot cd to %s (missing or not permitted); the command was not run\\n' "$__cf_d" >&2; exit 1;
      fi;
      set --; unset -v __cf_d __cf_kv;
      eval "$__cf_c";
    ) </dev/null >"$P.out" 2>"$P.err" &
    set +m; wait $!; echo $? >"$P.rc";
  fi;
  cf_report;
  I=$((I + 1));
done`;

/** The templates above on one line: each line already ends with ";" or a word that continues. */
const flat = (script: string): string => script.replace(/\n\s*/g, ' ');

/**
 * One exec that runs the given commands one after another, each detached (or re-attached),
 * printing each one's output and frames as it ends. The login shell may be any POSIX-ish
 * shell (bash, dash, zsh): bash runs the body itself, the others check for bash and hand over.
 */
export function chunkScript(runs: readonly RunSpec[], opts: ChunkOptions): string {
  if (!/^[A-Za-z0-9]{8,64}$/.test(opts.nonce)) throw new Error('invalid nonce');
  if (runs.length === 0) throw new Error('a chunk needs at least one run');
  const cases = runs.map((r, i) => {
    checkRunId(r.runId);
    return `${i}) set -- ${r.runId} ${bashqArgs([r.command, r.cwd ?? '', ...envPairs(r.env)])};;`;
  });
  const gate = opts.gate ? 'IFS= read -r K && [ "$K" = go ] || exit 0; ' : '';
  const body = `${flat(CHUNK_BODY)} ${gate}T=${runs.length}; M=${outputCap(opts.maxOutput)}; ${flat(RUN_LOOP(cases.join(' ')))}`;
  // A login shell that is bash (not in POSIX mode) runs the body itself: one exec less per chunk.
  return `B=${baseDirWord(opts.baseDir)}; S=${shq(body)}; ` +
    `if [ -n "$BASH_VERSION" ] && ! shopt -qo posix 2>/dev/null; then set -- ${opts.nonce} "$B"; eval "$S"; ` +
    `else command -v bash >/dev/null 2>&1 || { printf 'clusterflow: bash not found on this node (PATH=%s)\\n' "$PATH" >&2; exit 127; }; exec bash -c "$S" bash ${opts.nonce} "$B"; fi`;
}

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
  if [ -s "$P.rc" ]; then echo "$R finished: the run had already exited"; return 0; fi
  # Written first: a launcher that has claimed but not yet started the command sees it.
  echo TERM >"$P.kill"
  ${AWAIT_FATE}
  if [ -e "$P.skip" ] && [ ! -s "$P.pgid" ]; then echo "$R preempted: it had not started and never will"; return 0; fi
  cf_read_pgid
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

const DEFAULT_OUTPUT_CAP = 256 * 1024 * 1024;
const outputCap = (n?: number): number => Math.max(1, Math.floor(n ?? DEFAULT_OUTPUT_CAP));

/**
 * Keep run output files on the node within `maxOutput` bytes per stream: every run file of the
 * base dir over it is cut back to it (and its run marked `.capped`). With `watch`, again every
 * 0.25 s while any of `runIds` is still running (a command printing fast for long would
 * otherwise fill the disk before it ends); without, once. One `find` per round for all runs.
 */
export function capScript(runIds: readonly string[], opts: { maxOutput?: number; baseDir?: string; watch?: boolean } = {}): string {
  runIds.forEach(checkRunId);
  const m = outputCap(opts.maxOutput);
  return `B=${baseDirWord(opts.baseDir)}
[ -d "$B" ] || exit 0
while :; do
  find "$B" -maxdepth 1 -type f \\( -name '*.out' -o -name '*.err' \\) -size +${m}c 2>/dev/null | while IFS= read -r F; do
    dd if=/dev/null of="$F" bs=1 seek=${m} count=0 2>/dev/null && : >"\${F%.*}.capped"
  done
  ${opts.watch ? '' : 'break'}
  live=0
  for R in ${runIds.join(' ')}; do if [ -e "$B/$R.claim" ] && [ ! -s "$B/$R.rc" ] && [ ! -e "$B/$R.skip" ]; then live=1; break; fi; done
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
if [ -e "$P.skip" ] && [ ! -s "$P.pgid" ]; then echo skipped; exit 0; fi
K=; [ -s "$P.kill" ] && read -r K <"$P.kill"
RC=; [ -s "$P.rc" ] && read -r RC <"$P.rc"
if [ -n "$K" ] && ! { [ -z "$RC" ] && cf_read_pgid && cf_alive; }; then echo "killed SIG$K"; exit 0; fi
if [ -n "$RC" ]; then echo "done $RC"; exit 0; fi
if [ ! -s "$P.pgid" ]; then echo running; exit 0; fi
cf_read_pgid
if cf_alive; then echo running; else echo lost; fi`;
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
  return `B=${baseDirWord(baseDir)}; P="$B"/${runId}; F="$P.${stream === 'stdout' ? 'out' : 'err'}"
if [ ! -e "$P.claim" ]; then echo absent; exit 0; fi
S=0; if [ -e "$F" ]; then S=$(wc -c <"$F"); S=$((S + 0)); fi
[ "$S" -gt ${cap} ] && S=${cap}
E=running; if [ -s "$P.rc" ] || [ -e "$P.skip" ] || [ -s "$P.kill" ]; then E=ended; fi
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

/** Delete runs that finished (or vanished) more than olderThanMin minutes ago; prints "removed N". */
export function cleanupScript(olderThanMin: number, baseDir?: string): string {
  const minutes = Math.max(0, Math.floor(olderThanMin));
  return `${posixPrelude(baseDir)}
cd "$B" 2>/dev/null || { echo "removed 0"; exit 0; }
n=0
for f in $(find . -maxdepth 1 \\( -name '*.rc' -o -name '*.claim' \\) -mmin +${minutes} 2>/dev/null); do
  P=\${f%.*}
  case $f in *.claim) [ -e "$P.rc" ] && continue; cf_read_pgid; cf_alive && continue ;; esac
  [ -e "$P.claim" ] || [ -e "$P.rc" ] || continue
  rm -f "$P.out" "$P.err" "$P.rc" "$P.kill" "$P.pgid" "$P.skip" "$P.capped" "$P.claim" && n=$((n + 1))
done
echo "removed $n"`;
}

export interface ChunkEvents {
  /** Run i started (its S frame). */
  onStart?: (i: number) => void;
  /**
   * Output of run i as it arrives. With this handler the reader keeps none of it: the run's
   * stdout/stderr in onRun are empty (memory stays flat whatever a command prints).
   */
  onData?: (i: number, stream: 'stdout' | 'stderr', data: Buffer) => void;
  /** Run i's output and outcome are complete (both E frames). */
  onRun?: (i: number, run: RunOutput) => void;
}

const END_RE = /^E (\d+) st=(done|killed|lost|skipped) rc=(-|\d+) sig=(-|SIG[A-Z0-9]+) re=([01]) cap=([01])$/;

/**
 * Reads a chunk's two streams as they arrive and reports each run when it is complete.
 * Bytes before a run's E frame belong to that run; bytes before any frame (a message from
 * the login shell, e.g. "bash not found") are kept as the preamble.
 */
export class ChunkReader {
  readonly runs: Array<RunOutput | undefined>;
  private readonly marker: Buffer;
  private readonly streams = {
    stdout: { pending: Buffer.alloc(0), ended: 0, parts: [] as Buffer[][] },
    stderr: { pending: Buffer.alloc(0), ended: 0, parts: [] as Buffer[][] },
  };
  private readonly trailers: Array<Pick<RunOutput, 'state' | 'returnCode' | 'signal' | 'reattached' | 'capped'> | undefined>;
  private stdoutEnded: boolean[];

  constructor(nonce: string, readonly count: number, private readonly events: ChunkEvents = {}) {
    this.marker = Buffer.from(`\x1e${nonce} `);
    this.runs = new Array(count).fill(undefined);
    this.trailers = new Array(count).fill(undefined);
    this.stdoutEnded = new Array(count).fill(false);
    for (const s of Object.values(this.streams)) s.parts = Array.from({ length: count + 1 }, () => []);
  }

  push(name: 'stdout' | 'stderr', data: Buffer): void {
    const s = this.streams[name];
    let buf = s.pending.length ? Buffer.concat([s.pending, data]) : data;
    for (;;) {
      const at = buf.indexOf(this.marker);
      if (at < 0) {
        // Keep a tail that may be the start of a marker split across packets.
        const keep = Math.min(buf.length, this.marker.length - 1);
        const cut = buf.length - keep;
        let safe = buf.length;
        for (let k = cut; k < buf.length; k++) if (buf[k] === 0x1e) { safe = k; break; }
        if (safe > 0) this.content(name, buf.subarray(0, safe));
        s.pending = Buffer.from(buf.subarray(safe));
        return;
      }
      const nl = buf.indexOf(0x0a, at);
      if (nl < 0) {
        if (at > 0) this.content(name, buf.subarray(0, at));
        s.pending = Buffer.from(buf.subarray(at));
        return;
      }
      if (at > 0) this.content(name, buf.subarray(0, at));
      this.frame(name, buf.subarray(at + this.marker.length, nl).toString('latin1'));
      buf = buf.subarray(nl + 1);
    }
  }

  /** Bytes no run claimed: before the first frame, or after the last (on either stream). */
  preamble(name: 'stdout' | 'stderr'): Buffer {
    const s = this.streams[name];
    return Buffer.concat([...(s.parts[Math.min(s.ended, this.count)] ?? []), s.pending]);
  }

  private content(name: 'stdout' | 'stderr', b: Buffer): void {
    const s = this.streams[name];
    if (this.events.onData && s.ended < this.count) return this.events.onData(s.ended, name, Buffer.from(b));
    s.parts[Math.min(s.ended, this.count)]!.push(Buffer.from(b));
  }

  private frame(name: 'stdout' | 'stderr', line: string): void {
    const s = this.streams[name];
    if (name === 'stdout') {
      const start = /^S (\d+)$/.exec(line);
      if (start) {
        this.events.onStart?.(Number(start[1]));
        return;
      }
      if (line === `E ${s.ended}` && s.ended < this.count) {
        this.stdoutEnded[s.ended] = true;
        this.complete(s.ended++);
      }
      return;
    }
    const m = END_RE.exec(line);
    if (!m || Number(m[1]) !== s.ended || s.ended >= this.count) return;
    this.trailers[s.ended] = { state: m[2] as RunState, returnCode: m[3] === '-' ? null : Number(m[3]), signal: m[4] === '-' ? null : m[4]!, reattached: m[5] === '1', capped: m[6] === '1' };
    this.complete(s.ended++);
  }

  private complete(i: number): void {
    const t = this.trailers[i];
    if (!t || !this.stdoutEnded[i]) return;
    const run: RunOutput = { ...t, stdout: Buffer.concat(this.streams.stdout.parts[i]!), stderr: Buffer.concat(this.streams.stderr.parts[i]!) };
    this.streams.stdout.parts[i] = [];
    this.streams.stderr.parts[i] = [];
    this.runs[i] = run;
    this.events.onRun?.(i, run);
  }
}

/** Parse a whole chunk's output at once (tests, tools). Runs without frames come back lost. */
export function parseChunkOutput(nonce: string, count: number, stdout: Buffer, stderr: Buffer): RunOutput[] {
  const r = new ChunkReader(nonce, count);
  r.push('stdout', stdout);
  r.push('stderr', stderr);
  return r.runs.map((run) => run ?? { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), state: 'lost', returnCode: null, signal: null, reattached: false, capped: false });
}
