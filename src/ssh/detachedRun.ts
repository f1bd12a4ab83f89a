// The detached-run protocol, shared by SSH and local execution (pure: builds scripts and
// parses their output). Closing an SSH channel does not stop a remote command, and a
// worker can die mid-command; so every command runs in its own process group with output
// and exit status in files on the node, under $B/<runId>.*:
//   .claim  created atomically (noclobber) with the creator's pid: whoever creates it decides the run's fate;
//           then lines are appended to it, each in one write:
//             "p <pgid> <boot id>"  the supervisor, the group leader (it writes this before anything else)
//             "r <exit code>"       written by the launcher once the group ended
//   .out .err   the command's output
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
import { ALIVE_FN, AWAIT_FATE, baseDirWord, checkRunId, outputCap, POLL, READ_BOOT } from './scriptParts.js';

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

export type PeekState = { state: 'absent' | 'running' | 'lost' | 'skipped' } | { state: 'done'; returnCode: number } | { state: 'killed'; signal: string };

export const newNonce = (): string => `CF${randomBytes(9).toString('hex')}`;

function envPairs(env: Record<string, string> | undefined): string[] {
  return Object.entries(env ?? {}).map(([k, v]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`invalid environment variable name ${JSON.stringify(k)}`);
    if (RESERVED_ENV.test(k)) throw new Error(`environment variable name ${JSON.stringify(k)} is reserved for clusterflow's runner`);
    return `${k}=${v}`;
  });
}

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
// does not stop it before that write (it dies on the next frame it prints). Each line of the
// claim is one small append and readers skip a line without its newline, so no reader sees a
// partial one. The group and the exit code go into the claim rather than files of their own: a
// new file costs far more than an append (an inode: 0.1-0.7 ms of kernel time each on our test
// VM's ext4), and a short command's cost on the node is mostly its fork and its files. Only the
// directory is private (700): the command keeps the login shell's umask.
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
  i=0;
  while [ -z "$RC" ]; do
    if [ $((i % 10)) -ne 0 ] && [ -n "$L" ] && kill -0 "$L" 2>/dev/null; then :; elif ! cf_alive; then break; fi;
    if [ $i -lt 40 ]; then ${POLL}; else sleep 0.2; fi; i=$((i + 1));
    cf_read_claim;
  done;
  i=0;
  while [ -z "$RC" ] && [ -n "$L" ] && kill -0 "$L" 2>/dev/null && [ $i -lt 100 ]; do ${POLL}; i=$((i + 1)); cf_read_claim; done;
  return 1;
};
cf_report() {
  if [ "$RE" != 0 ] || [ -z "$RC" ]; then cf_read_claim; fi;
  case $RC in *[!0-9]*) RC= ;; esac;
  K=; [ -s "$P.kill" ] && read -r K <"$P.kill";
  if [ -n "$K" ]; then cf_read_claim; while cf_alive; do ${POLL}; done; read -r K <"$P.kill"; fi;
  [ -s "$P.out" ] && head -c "$((M + 1))" "$P.out";
  if [ $((I + 1)) -lt "$T" ]; then printf '\\036%s E %s\\n\\036%s S %s\\n' "$N" "$I" "$N" $((I + 1)); else printf '\\036%s E %s\\n' "$N" "$I"; fi;
  [ -s "$P.err" ] && head -c "$((M + 1))" "$P.err" >&2;
  if [ -z "$RC" ] && [ -e "$P.skip" ] && [ -z "$G" ]; then ST=skipped; SIG=-;
  elif [ -n "$K" ]; then ST=killed; SIG=SIG$K;
  elif [ -n "$RC" ]; then ST=done; SIG=-;
  else ST=lost; SIG=-; fi;
  CAP=0; [ -e "$P.capped" ] && CAP=1;
  printf '\\036%s E %s st=%s rc=%s sig=%s re=%s cap=%s\\n' "$N" "$I" "$ST" "\${RC:--}" "$SIG" "$RE" "$CAP" >&2;
};`;
// cf_claim, re-attaching: the launcher (its pid is the claim) writes the exit code just after the
// group ends. While it lives, a builtin test per poll does; the group itself (ps) is looked at every
// 10th poll, in case the pid was reused; runs re-attached for long (a head start's, a crashed
// worker's) poll slower; once the group is gone the launcher gets a moment to write the code.
// Run 0 announces itself; each later one is announced with the end of the one before (one write
// less). cf_report: a run being killed is reported once its whole group is gone, with the signal
// that ended it; each stream is sent to one byte past the cap (the reader then knows there was
// more). A run this exec launched reports the exit code `wait` gave it: reading the claim back
// costs more than the rest of the report (~0.1 ms a run here); any other run reads the claim.

// Per run, in the loop: its arguments (`set -- <run id> <command> <cwd> <env>...`), the launch, the report.
const RUN_LOOP = (cases: string) => `I=0;
while [ "$I" -lt "$T" ]; do
  case $I in ${cases} esac;
  RC=;
  if cf_claim "$I" "$1"; then
    set -m;
    (
      set +m;
      echo "p $BASHPID $BOOT" >>"$P.claim";
      [ -e "$P.kill" ] && exit 143;
      unset -v S N B T M BOOT P I RE G GB K RC ST SIG CAP L i cf_k cf_a cf_b; unset -f cf_claim cf_report cf_alive cf_read_claim;
      for __cf_kv in "\${@:4}"; do export "$__cf_kv"; done;
      __cf_c=$2 __cf_d=$3;
      if [ -n "$__cf_d" ] && ! cd "$__cf_d" 2>/dev/null; then
        printf 'clusterflow: cannot cd to %s (missing or not permitted); the command was not run\\n' "$__cf_d" >&2; exit 1;
      fi;
      set --; unset -v __cf_d __cf_kv;
      eval "$__cf_c";
    ) </dev/null >"$P.out" 2>"$P.err" &
    set +m; wait $!; RC=$?; echo "r $RC" >>"$P.claim";
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
  return (
    `B=${baseDirWord(opts.baseDir)}; S=${shq(body)}; ` +
    `if [ -n "$BASH_VERSION" ] && ! shopt -qo posix 2>/dev/null; then set -- ${opts.nonce} "$B"; eval "$S"; ` +
    `else command -v bash >/dev/null 2>&1 || { printf 'clusterflow: bash not found on this node (PATH=%s)\\n' "$PATH" >&2; exit 127; }; exec bash -c "$S" bash ${opts.nonce} "$B"; fi`
  );
}

export { capScript, cleanupScript, killScript, parsePeek, parseTail, peekScript, preemptScript, tailScript } from './runScripts.js';
export { ChunkReader, parseChunkOutput, type ChunkEvents } from './chunkReader.js';
