import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { promisify } from 'node:util';
import { PROBE_SCRIPT, applyMetricsOverrides, parseProbeOutput, probeScript } from '../../src/cluster/probe.js';
import { SweepSchedule, SWEEP_EVERY_MS } from '../../src/activities/probe.js';
import type { NodeMetrics } from '../../src/shared.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
// Compiled to dist/test/unit/, fixtures stay in the source tree.
const fixture = (name: string): string => readFileSync(new URL(`../../../test/fixtures/probe/${name}`, import.meta.url), 'utf8');

/** A Linux probe output with the given overrides of individual sections. */
function linuxOutput(sections: Partial<Record<string, string | null>> = {}): string {
  const base: Record<string, string | null> = {
    uname: 'Linux x86_64',
    stat1: 'cpu  100 0 100 800 0 0 0 0 0 0',
    stat2: 'cpu  150 0 150 880 20 0 0 0 0 0',
    loadavg: '0.50 0.40 0.30 1/100 1234',
    cores: '4',
    meminfo: 'MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 250 kB\nBuffers: 50 kB\nCached: 100 kB',
    uptime: '1234.56 4000.00',
    end: '',
    ...sections,
  };
  return (
    Object.entries(base)
      .filter(([, v]) => v !== null)
      .map(([k, v]) => `\n@@cf:${k}\n${v}`)
      .join('\n') + '\n'
  );
}

test('recorded and written fixtures parse to the expected figures', () => {
  const cases: Array<[string, NodeMetrics]> = [
    // Real output of PROBE_SCRIPT on this (2-core x86_64 Linux) machine; figures checked by hand:
    // cpu 1 busy tick of 40 = 2.5 %, memory (24684084 - 24215688) / 24684084 = 1.9 %.
    ['linux-x86_64.txt', { cpu_percent: 2.5, memory_percent: 1.9, load_avg: [0.11, 0.19, 0.1], cores: 2, uptime_s: 458, os: 'linux', arch: 'x86_64' }],
    // 187.3 / 10 cores; (281052 + 152389 + 253165) * 16384 / 16 GiB = 65.5 %; 1700086400 - 1700000000.
    ['macos-arm64.txt', { cpu_percent: 18.7, memory_percent: 65.5, load_avg: [2.39, 2.71, 2.95], cores: 10, uptime_s: 86400, os: 'macos', arch: 'arm64' }],
    // 412.8 / 16; (2101234 + 1456789 + 512345) * 4096 / 32 GiB = 48.5 %.
    ['macos-x86_64.txt', { cpu_percent: 25.8, memory_percent: 48.5, load_avg: [3.12, 2.87, 2.64], cores: 16, uptime_s: 86400, os: 'macos', arch: 'x86_64' }],
    // Recorded with metricsCommand `echo load1=9.5; echo cores=16; echo "it's fine" >&2`.
    [
      'linux-x86_64-metrics-command.txt',
      { cpu_percent: 2.4, memory_percent: 1.9, load_avg: [9.5, 0.19, 0.1], cores: 16, uptime_s: 459, os: 'linux', arch: 'x86_64' },
    ],
  ];
  for (const [name, expected] of cases) assert.deepEqual(parseProbeOutput(fixture(name), 'n1'), expected, name);
});

test('macOS: Apple silicon is reported as arm64 even when uname runs under Rosetta', () => {
  const rosetta = fixture('macos-arm64.txt').replace('Darwin arm64', 'Darwin x86_64');
  assert.equal(parseProbeOutput(rosetta, 'n1').arch, 'arm64');
});

test('Linux parsing: cpu from two samples, memory fallbacks, arch names, chatter', () => {
  const cases: Array<[string, string, Partial<NodeMetrics>]> = [
    // busy +100 of total +200 (iowait counts as idle)
    ['cpu from /proc/stat deltas', linuxOutput(), { cpu_percent: 50, memory_percent: 75, load_avg: [0.5, 0.4, 0.3], cores: 4, uptime_s: 1234 }],
    ['no tick between samples', linuxOutput({ stat2: 'cpu  100 0 100 800 0 0 0 0 0 0' }), { cpu_percent: 0 }],
    [
      'kernel < 3.14 without MemAvailable',
      linuxOutput({ meminfo: 'MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB' }),
      { memory_percent: 60 },
    ],
    ['aarch64 is arm64', linuxOutput({ uname: 'Linux aarch64' }), { arch: 'arm64', os: 'linux' }],
    ['rc-file chatter before the first marker', `Welcome to builder1!\nLast login: Tue Nov 14 22:13:20 2023\n${linuxOutput()}`, { cores: 4 }],
    ['CRLF line endings', linuxOutput().replace(/\n/g, '\r\n'), { cpu_percent: 50, cores: 4 }],
  ];
  for (const [name, text, expected] of cases) {
    const m = parseProbeOutput(text, 'n1');
    for (const [key, value] of Object.entries(expected)) assert.deepEqual(m[key as keyof NodeMetrics], value, `${name}: ${key}`);
  }
});

test('garbage and partial output throw an error that names the node and the problem', () => {
  const mac = fixture('macos-arm64.txt');
  const cases: Array<[string, string, RegExp]> = [
    ['empty', '', /^ProbeParseError: n1: cannot read probe output: not clusterflow probe output/],
    ['something else', 'bash: sh: command not found\n', /no "@@cf:uname" marker.*bash: sh: command not found/],
    ['truncated', linuxOutput({ end: null }), /truncated/],
    ['other OS', linuxOutput({ uname: 'FreeBSD amd64' }), /unsupported OS "FreeBSD"/],
    ['other arch', linuxOutput({ uname: 'Linux riscv64' }), /unsupported architecture "riscv64"/],
    ['missing section', linuxOutput({ meminfo: null }), /section "meminfo" is missing/],
    ['no MemTotal', linuxOutput({ meminfo: 'MemFree: 5 kB' }), /no MemTotal/],
    ['bad load average', linuxOutput({ loadavg: 'x y z' }), /load average is not a number: "x"/],
    ['bad stat line', linuxOutput({ stat1: 'intr 1 2 3' }), /not a \/proc\/stat cpu line/],
    ['zero cores', linuxOutput({ cores: '0' }), /core count 0 is not a positive integer/],
    ['vm_stat without compressor', mac.replace(/^Pages occupied by compressor:.*$/m, ''), /vm_stat "Pages occupied by compressor"/],
    ['sysctl missing memsize', mac.replace(/^hw\.memsize:.*$/m, ''), /sysctl hw\.memsize missing/],
    ['unreadable vm.loadavg', mac.replace('{ 2.39 2.71 2.95 }', '2.39'), /vm\.loadavg unreadable/],
  ];
  for (const [name, text, pattern] of cases) assert.throws(() => parseProbeOutput(text, 'n1'), pattern, name);
});

test('applyMetricsOverrides: every key, comments, no mutation of the input', () => {
  const probed = parseProbeOutput(linuxOutput(), 'n1');
  const text = '# site load\ncpu_percent=91.5\n\nmemory_percent = 12\nload1=7\nload5=6.5\nload15=0\ncores=64\n';
  const out = applyMetricsOverrides(probed, text);
  assert.deepEqual(out, { ...probed, cpu_percent: 91.5, memory_percent: 12, load_avg: [7, 6.5, 0], cores: 64 });
  assert.deepEqual(probed.load_avg, [0.5, 0.4, 0.3], 'input untouched');
  assert.deepEqual(applyMetricsOverrides(probed, ''), probed);
});

test('applyMetricsOverrides rejects what it cannot apply', () => {
  const probed = parseProbeOutput(linuxOutput(), 'n1');
  const cases: Array<[string, RegExp]> = [
    ['load_1=3', /unknown key "load_1" \(known: cpu_percent, memory_percent, load1, load5, load15, cores\)/],
    ['hello world', /"hello world" is not key=value/],
    ['cpu_percent=150', /cpu_percent=150 is out of range/],
    ['memory_percent=-1', /out of range/],
    ['cores=0', /cores=0 is out of range/],
    ['cores=2.5', /cores=2.5 is out of range/],
    ['load1=abc', /load1=abc is out of range/],
  ];
  for (const [text, pattern] of cases) assert.throws(() => applyMetricsOverrides(probed, text), pattern, text);
});

test('metricsCommand section: failures and bad output become probe errors', () => {
  const withMetrics = (metrics: string, stderr: string, exit: string): string =>
    linuxOutput({ end: null }) + `\n@@cf:metrics\n${metrics}\n@@cf:metrics_stderr\n${stderr}\n@@cf:metrics_exit\n${exit}\n@@cf:end\n`;
  assert.equal(parseProbeOutput(withMetrics('load15=2', 'a warning', '0'), 'n1').load_avg[2], 2);
  assert.throws(
    () => parseProbeOutput(withMetrics('load1=1', 'gpu-stat: not found', '127'), 'n1'),
    /n1: cannot read probe output: metricsCommand exited with status 127: "gpu-stat: not found"/,
  );
  assert.throws(() => parseProbeOutput(withMetrics('lod1=1', '', '0'), 'n1'), /metricsCommand output: unknown key "lod1"/);
});

test('probeScript: no metricsCommand gives PROBE_SCRIPT; the command is quoted, not spliced', () => {
  assert.equal(probeScript(), PROBE_SCRIPT);
  assert.equal(probeScript('  '), PROBE_SCRIPT);
  assert.match(probeScript(`echo 'a'`), /sh -c 'echo '\\''a'\\''' <\/dev\/null/);
  assert.match(PROBE_SCRIPT, /^case "\$\(uname -s\)" in$/m);
});

const ARCH: Record<string, string> = { x64: 'x86_64', arm64: 'arm64' };

for (const shell of ['sh', 'bash']) {
  test(`real probe on this machine via ${shell} -c agrees with Node's view`, { skip: process.platform !== 'linux' }, async () => {
    const started = performance.now();
    const { stdout } = await run(shell, ['-c', PROBE_SCRIPT], { env: { PATH: '/usr/bin:/bin' } });
    const elapsedMs = performance.now() - started;
    const m = parseProbeOutput(stdout, 'local');
    assert.equal(m.os, 'linux');
    assert.equal(m.arch, ARCH[process.arch]);
    assert.equal(m.cores, os.cpus().length);
    assert.ok(Math.abs(m.uptime_s - os.uptime()) <= 5, `uptime ${m.uptime_s} vs ${os.uptime()}`);
    assert.ok(Math.abs(m.load_avg[0] - os.loadavg()[0]!) < 1, `load ${m.load_avg[0]} vs ${os.loadavg()[0]}`);
    const nodeMemPercent = (1 - os.freemem() / os.totalmem()) * 100; // libuv reads MemAvailable too
    assert.ok(Math.abs(m.memory_percent - nodeMemPercent) < 5, `memory ${m.memory_percent} vs ${nodeMemPercent}`);
    assert.ok(m.cpu_percent >= 0 && m.cpu_percent <= 100);
    assert.ok(elapsedMs < 1000, `probe took ${elapsedMs.toFixed(0)} ms`);
  });
}

test('real probe sees a busy core', { skip: process.platform !== 'linux' }, async () => {
  // The burner says when its loop begins: node's own start-up is no busy core yet.
  const burner = spawn(process.execPath, ['-e', 'process.stdout.write("spinning\\n"); for (;;) {}'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let said = '';
  burner.stdout.on('data', (b: Buffer) => {
    said += b.toString();
  });
  try {
    await waitFor('the burner to spin', () => said.includes('spinning'), 10_000, 10);
    const { stdout } = await run('sh', ['-c', PROBE_SCRIPT]);
    const m = parseProbeOutput(stdout, 'local');
    // One of N cores spinning: at least ~100/N percent, minus sampling slack.
    assert.ok(m.cpu_percent >= 100 / os.cpus().length - 15, `cpu ${m.cpu_percent}% with one core spinning`);
  } finally {
    burner.kill('SIGKILL');
  }
});

test('real metricsCommand: quoting survives, stderr is kept apart, failures surface', { skip: process.platform !== 'linux' }, async () => {
  const ok = await run('sh', ['-c', probeScript(`printf '%s\\n' 'load5=3.5' "memory_percent=42"; echo "it's a warning" >&2`)]);
  const m = parseProbeOutput(ok.stdout, 'n1');
  assert.equal(m.load_avg[1], 3.5);
  assert.equal(m.memory_percent, 42);
  const bad = await run('sh', ['-c', probeScript('echo boom >&2; exit 7')]);
  assert.throws(() => parseProbeOutput(bad.stdout, 'n1'), /metricsCommand exited with status 7: "boom"/);
});

test("the sweep of old runs rides a node's probe at most once an hour, from its first probe that got through", () => {
  const sweeps = new SweepSchedule();
  const t0 = 1_000_000;
  assert.equal(sweeps.due('n1', t0), true, 'never swept');
  sweeps.swept('n1', t0);
  assert.equal(sweeps.due('n1', t0 + 10_000), false);
  assert.equal(sweeps.due('n1', t0 + SWEEP_EVERY_MS - 1), false);
  assert.equal(sweeps.due('n2', t0 + 10_000), true, 'each node has its own turn');
  assert.equal(sweeps.due('n1', t0 + SWEEP_EVERY_MS), true);
});
