// The node probe: one POSIX sh script, run as `sh -c` on the node in a single round trip,
// prints raw figures in marked sections; pure functions here turn that text into NodeMetrics.
// No I/O in this file: the SSH / local runners execute the script, tests feed recorded output.
import type { Arch, NodeMetrics, Os } from '../shared.js';
import { shq } from '../ssh/quote.js';

const MARK = '@@cf:';

/**
 * Linux: /proc/stat is read twice 0.2 s apart (the only sleep; the whole probe takes ~0.25 s);
 * cores = online CPUs (`getconf _NPROCESSORS_ONLN`, the same count as Node's os.cpus()), not
 * the affinity-limited `nproc`, because the load average it is compared with is system-wide.
 *
 * macOS: cpu% = sum of `ps -A -o %cpu` / hw.ncpu. `top -l 2` needs a full second between its
 * samples and `top -l 1` reports nonsense for its first sample, while ps answers in ~30 ms;
 * the kernel's per-process %cpu is a decaying average over the last few seconds, which suits
 * routing. hw.optional.arm64 tells Apple silicon apart even when uname runs under Rosetta.
 * Memory% is computed from vm_stat by the parser (see macosMemoryPercent).
 *
 * PATH is set because non-interactive SSH sessions may lack /usr/sbin (sysctl); LC_ALL=C
 * keeps decimal points as dots.
 */
const BASE_SCRIPT = `PATH=/usr/bin:/bin:/usr/sbin:/sbin:$PATH
LC_ALL=C
export PATH LC_ALL
m() { printf '\\n${MARK}%s\\n' "$1"; }
m uname; uname -s -m
case "$(uname -s)" in
Linux)
  m stat1; head -n 1 /proc/stat
  sleep 0.2 2>/dev/null || sleep 1
  m stat2; head -n 1 /proc/stat
  m loadavg; cat /proc/loadavg
  m cores; getconf _NPROCESSORS_ONLN 2>/dev/null || grep -c '^processor' /proc/cpuinfo
  m meminfo; grep -E '^(MemTotal|MemFree|MemAvailable|Buffers|Cached):' /proc/meminfo
  m uptime; cat /proc/uptime
  ;;
Darwin)
  m sysctl; sysctl hw.ncpu vm.loadavg kern.boottime hw.memsize hw.pagesize
  sysctl hw.optional.arm64 2>/dev/null
  m now; date +%s
  m vm_stat; vm_stat
  m ps_cpu; ps -A -o %cpu= | awk '{ s += $1 } END { print s + 0 }'
  ;;
esac
`;

/**
 * The probe script, optionally followed by the node's `metricsCommand`. That command runs in
 * its own `sh -c` with stdin closed; its stdout forms the `metrics` section, its stderr (kept
 * apart so warnings cannot break the key=value lines) `metrics_stderr`, and its exit status
 * `metrics_exit`, so a failing command is reported with its stderr, never half-applied.
 */
export function probeScript(metricsCommand?: string): string {
  const extra = metricsCommand?.trim()
    ? `m metrics\n{ err=$(sh -c ${shq(metricsCommand)} </dev/null 2>&1 >&3 3>&-); rc=$?; } 3>&1\n` +
      `m metrics_stderr; printf '%s\\n' "$err"\nm metrics_exit; echo "$rc"\n`
    : '';
  return `${BASE_SCRIPT}${extra}m end\n`;
}

export const PROBE_SCRIPT: string = probeScript();

/** Splits probe output into sections; text before the first marker (rc-file chatter) is dropped. */
function splitSections(text: string): Map<string, string> {
  const sections = new Map<string, string>();
  let current: string | undefined;
  let lines: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith(MARK)) {
      if (current !== undefined) sections.set(current, lines.join('\n').trim());
      current = line.slice(MARK.length).trim();
      lines = [];
    } else if (current !== undefined) lines.push(line);
  }
  if (current !== undefined) sections.set(current, lines.join('\n').trim());
  return sections;
}

class ProbeParseError extends Error {
  constructor(nodeId: string, detail: string) {
    super(`${nodeId}: cannot read probe output: ${detail}`);
    this.name = 'ProbeParseError';
  }
}

const round1 = (x: number): number => Math.round(x * 10) / 10;
const clampPercent = (x: number): number => round1(Math.min(100, Math.max(0, x)));

function toNumber(raw: string | undefined, what: string, fail: (d: string) => never): number {
  const value = raw === undefined ? NaN : Number(raw.trim());
  if (raw === undefined || raw.trim() === '' || !Number.isFinite(value)) fail(`${what} is not a number: ${JSON.stringify(raw ?? null)}`);
  return value;
}

function parseOsArch(uname: string, fail: (d: string) => never): { os: Os; arch: Arch } {
  const [kernel, machine] = uname.split(/\s+/);
  const os: Os | undefined = kernel === 'Linux' ? 'linux' : kernel === 'Darwin' ? 'macos' : undefined;
  if (!os) fail(`unsupported OS ${JSON.stringify(kernel)} (clusterflow supports Linux and Darwin)`);
  const arch: Arch | undefined = machine === 'x86_64' || machine === 'amd64' ? 'x86_64' : machine === 'arm64' || machine === 'aarch64' ? 'arm64' : undefined;
  if (!arch) fail(`unsupported architecture ${JSON.stringify(machine)} (clusterflow supports x86_64 and arm64)`);
  return { os, arch };
}

/** `cpu  user nice system idle iowait irq softirq steal guest guest_nice` (guest is already in user). */
function linuxCpuPercent(first: string, second: string, fail: (d: string) => never): number {
  const ticks = (line: string): { busy: number; total: number } => {
    const fields = line.trim().split(/\s+/);
    if (fields[0] !== 'cpu' || fields.length < 5) fail(`not a /proc/stat cpu line: ${JSON.stringify(line)}`);
    const n = fields.slice(1, 9).map((f) => toNumber(f, '/proc/stat field', fail));
    const total = n.reduce((a, b) => a + b, 0);
    const idle = n[3]! + (n[4] ?? 0);
    return { busy: total - idle, total };
  };
  const a = ticks(first);
  const b = ticks(second);
  const dTotal = b.total - a.total;
  return dTotal > 0 ? clampPercent(((b.busy - a.busy) / dTotal) * 100) : 0;
}

/** `Key:   123 kB` lines (Linux /proc/meminfo) or `key: value` lines (macOS sysctl) into a map. */
function keyValues(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out.set(line.slice(0, i).trim().replace(/^"|"$/g, ''), line.slice(i + 1).trim());
  }
  return out;
}

function parseLinux(s: Map<string, string>, fail: (d: string) => never): Omit<NodeMetrics, 'os' | 'arch'> {
  const mem = keyValues(need(s, 'meminfo', fail));
  const kb = (key: string): number | undefined => (mem.has(key) ? toNumber(mem.get(key)!.replace(/\s*kB$/, ''), key, fail) : undefined);
  const total = kb('MemTotal');
  if (!total) fail('/proc/meminfo has no MemTotal');
  // MemAvailable appeared in Linux 3.14; before that free + buffers + page cache is the usual estimate.
  const available = kb('MemAvailable') ?? (kb('MemFree') ?? 0) + (kb('Buffers') ?? 0) + (kb('Cached') ?? 0);
  const load = need(s, 'loadavg', fail)
    .split(/\s+/)
    .slice(0, 3)
    .map((f) => toNumber(f, 'load average', fail));
  return {
    cpu_percent: linuxCpuPercent(need(s, 'stat1', fail), need(s, 'stat2', fail), fail),
    memory_percent: clampPercent(((total - available) / total) * 100),
    load_avg: [load[0]!, load[1]!, load[2]!],
    cores: toNumber(need(s, 'cores', fail), 'core count', fail),
    uptime_s: Math.floor(toNumber(need(s, 'uptime', fail).split(/\s+/)[0], 'uptime', fail)),
  };
}

/**
 * macOS memory% = (active + wired + occupied by compressor) pages x page size / hw.memsize:
 * the pages that cannot be dropped without paging, close to Activity Monitor's "Memory Used".
 * Inactive, speculative and free pages count as available, as the file cache does on Linux.
 */
function macosMemoryPercent(vmStat: string, memsize: number, fallbackPageSize: number, fail: (d: string) => never): number {
  const pageSize = Number(/page size of (\d+) bytes/.exec(vmStat)?.[1] ?? fallbackPageSize);
  const pages = keyValues(vmStat);
  const count = (key: string): number => toNumber(pages.get(key)?.replace(/\.$/, ''), `vm_stat "${key}"`, fail);
  const used = count('Pages active') + count('Pages wired down') + count('Pages occupied by compressor');
  return clampPercent(((used * pageSize) / memsize) * 100);
}

function parseMacos(s: Map<string, string>, fail: (d: string) => never): Omit<NodeMetrics, 'os' | 'arch'> {
  const sysctl = keyValues(need(s, 'sysctl', fail));
  const get = (key: string): string => sysctl.get(key) ?? fail(`sysctl ${key} missing`);
  const cores = toNumber(get('hw.ncpu'), 'hw.ncpu', fail);
  const memsize = toNumber(get('hw.memsize'), 'hw.memsize', fail);
  const load = /^\{\s*(\S+)\s+(\S+)\s+(\S+)\s*\}/.exec(get('vm.loadavg')) ?? fail(`vm.loadavg unreadable: ${get('vm.loadavg')}`);
  const bootSec = /sec\s*=\s*(\d+)/.exec(get('kern.boottime'))?.[1];
  const now = toNumber(s.get('now'), 'date +%s', fail);
  const psCpuSum = toNumber(s.get('ps_cpu'), 'ps %cpu sum', fail);
  return {
    cpu_percent: clampPercent(cores > 0 ? psCpuSum / cores : 0),
    memory_percent: macosMemoryPercent(need(s, 'vm_stat', fail), memsize, toNumber(get('hw.pagesize'), 'hw.pagesize', fail), fail),
    load_avg: [1, 2, 3].map((i) => toNumber(load[i], 'vm.loadavg', fail)) as [number, number, number],
    cores,
    uptime_s: Math.max(0, now - toNumber(bootSec, 'kern.boottime sec', fail)),
  };
}

function need(s: Map<string, string>, name: string, fail: (d: string) => never): string {
  const v = s.get(name);
  if (v === undefined || v === '') fail(`section "${name}" is missing or empty`);
  return v;
}

/** Parses the output of PROBE_SCRIPT / probeScript(); applies the metricsCommand section if present. */
export function parseProbeOutput(text: string, nodeId: string): NodeMetrics {
  const fail = (detail: string): never => {
    throw new ProbeParseError(nodeId, detail);
  };
  const sections = splitSections(text);
  if (!sections.has('uname')) {
    const start = text.trim().slice(0, 120);
    fail(`not clusterflow probe output (no "${MARK}uname" marker); it starts with ${JSON.stringify(start)}`);
  }
  if (!sections.has('end')) fail('output is truncated (no end marker): the probe was cut short');
  const { os, arch: unameArch } = parseOsArch(need(sections, 'uname', fail), fail);
  let metrics: NodeMetrics;
  if (os === 'linux') metrics = { ...parseLinux(sections, fail), os, arch: unameArch };
  else {
    // Under Rosetta uname says x86_64 on Apple silicon; the sysctl says what the hardware is.
    const appleSilicon = /hw\.optional\.arm64:\s*1/.test(sections.get('sysctl') ?? '');
    metrics = { ...parseMacos(sections, fail), os, arch: appleSilicon ? 'arm64' : unameArch };
  }
  if (!Number.isInteger(metrics.cores) || metrics.cores < 1) fail(`core count ${metrics.cores} is not a positive integer`);
  if (sections.has('metrics_exit')) {
    const rc = sections.get('metrics_exit');
    const output = sections.get('metrics') ?? '';
    const stderr = sections.get('metrics_stderr') ?? '';
    if (rc !== '0') fail(`metricsCommand exited with status ${rc}: ${JSON.stringify((stderr || output).slice(0, 300))}`);
    try {
      metrics = applyMetricsOverrides(metrics, output);
    } catch (err) {
      fail(`metricsCommand output: ${(err as Error).message}`);
    }
  }
  return metrics;
}

type OverrideKey = 'cpu_percent' | 'memory_percent' | 'load1' | 'load5' | 'load15' | 'cores';
const OVERRIDE_KEYS: readonly OverrideKey[] = ['cpu_percent', 'memory_percent', 'load1', 'load5', 'load15', 'cores'];

/**
 * Applies `key=value` lines (keys: cpu_percent, memory_percent, load1, load5, load15, cores)
 * over probed figures. Blank lines and `#` comments are skipped; anything else that is not a
 * known key with a sane number is an error, so a typo never passes silently.
 */
export function applyMetricsOverrides(m: NodeMetrics, text: string): NodeMetrics {
  const out: NodeMetrics = { ...m, load_avg: [...m.load_avg] };
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-z0-9_]+)\s*=\s*(\S+)$/.exec(line);
    if (!match) throw new Error(`line ${JSON.stringify(line)} is not key=value`);
    const key = match[1] as OverrideKey;
    if (!OVERRIDE_KEYS.includes(key)) throw new Error(`unknown key "${match[1]}" (known: ${OVERRIDE_KEYS.join(', ')})`);
    const value = Number(match[2]);
    const isPercent = key === 'cpu_percent' || key === 'memory_percent';
    const ok = Number.isFinite(value) && value >= 0 && (!isPercent || value <= 100) && (key !== 'cores' || (Number.isInteger(value) && value >= 1));
    if (!ok) throw new Error(`${key}=${match[2]} is out of range`);
    if (key === 'load1') out.load_avg[0] = value;
    else if (key === 'load5') out.load_avg[1] = value;
    else if (key === 'load15') out.load_avg[2] = value;
    else out[key] = value;
  }
  return out;
}
