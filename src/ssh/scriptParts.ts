// Pieces shared by the node-side scripts of the detached-run protocol (detachedRun.ts runs
// commands, runScripts.ts kills, peeks, reads, caps and sweeps them).
import { shq } from './quote.js';

export const POLL = 'sleep 0.05';

export function checkRunId(runId: string): void {
  if (!/^[A-Za-z0-9._-]{1,200}$/.test(runId)) throw new Error(`invalid run id ${JSON.stringify(runId)}: use [A-Za-z0-9._-]+`);
}

export function baseDirWord(baseDir?: string): string {
  if (baseDir === undefined) return '"$HOME"/.cache/clusterflow/runs';
  const home = /^(?:~|\$HOME)(\/.*)?$/.exec(baseDir);
  if (home) return home[1] ? `"$HOME"${shq(home[1])}` : '"$HOME"';
  return shq(baseDir);
}

// A pgid recorded before a reboot names nobody (or a stranger): the boot id tells.
export const READ_BOOT =
  'BOOT=; if [ -r /proc/sys/kernel/random/boot_id ]; then read -r BOOT </proc/sys/kernel/random/boot_id; ' +
  'else BOOT=$(sysctl -n kern.boottime 2>/dev/null | tr -d " "); fi';

/** POSIX sh: variables B (base dir), BOOT (this boot's id), and cf_read_claim / cf_alive for run path $P. */
export function posixPrelude(baseDir?: string): string {
  return `B=${baseDirWord(baseDir)}
${READ_BOOT}
${ALIVE_FN}`;
}

// Is group $G (recorded on boot $GB) still running? kill -0 is a free negative check;
// ps then skips zombies, which an init that does not reap would keep forever.
// cf_read_claim: what the run's .claim says so far (see detachedRun.ts): L the claimer's pid, G GB
// the group and its boot ("p" line), RC the exit code ("r" line); a line still being written (no
// newline yet) is not read. Runs launched by an older clusterflow kept the last two in files of
// their own (.pgid, .rc): read there when the claim lacks them, so an upgrade re-attaches to them.
// (Every statement ends with ";": the chunk runner joins it onto one line, see flat().)
export const ALIVE_FN = `cf_alive() {
  [ -n "$G" ] && [ "$GB" = "$BOOT" ] && kill -0 -"$G" 2>/dev/null || return 1;
  command -v ps >/dev/null 2>&1 || return 0;
  ps -A -o pgid= -o stat= 2>/dev/null | awk -v g="$G" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }';
};
cf_read_claim() {
  L=; G=; GB=; RC=;
  while read -r cf_k cf_a cf_b; do case $cf_k in p) G=$cf_a; GB=$cf_b ;; r) RC=$cf_a ;; *) [ -n "$L" ] || L=$cf_k ;; esac; done 2>/dev/null <"$P.claim";
  [ -n "$G" ] || { [ -s "$P.pgid" ] && read -r G GB <"$P.pgid"; };
  [ -n "$RC" ] || { [ -s "$P.rc" ] && read -r RC <"$P.rc"; };
  return 0;
};`;

// Wait up to 10 s for the run's fate to be written (a launcher between claim and launch may
// be slow on a loaded node); leaves what the claim then says in L, G, GB and RC.
export const AWAIT_FATE = `i=0; cf_read_claim; while [ -z "$G" ] && [ -z "$RC" ] && [ ! -e "$P.skip" ] && [ $i -lt 200 ]; do ${POLL}; i=$((i + 1)); cf_read_claim; done`;

export const DEFAULT_OUTPUT_CAP = 256 * 1024 * 1024;
export const outputCap = (n?: number): number => Math.max(1, Math.floor(n ?? DEFAULT_OUTPUT_CAP));
