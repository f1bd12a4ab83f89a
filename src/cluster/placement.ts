// Node placement: which node runs a command, and why. Pure (no I/O, no Node imports) so
// routing can run anywhere, workflow code included, and be tested on recorded metrics.
import type { Arch, NodeConfig, NodeState, Os, Settings } from '../shared.js';

export interface PlacementRequest {
  weight: 'heavy' | 'light';
  requiresOs?: Os;
  requiresArch?: Arch;
  requiresCapabilities?: string[];
  /** Nodes that may not take it, and why (e.g. their own policy refuses the command). */
  excludeNodes?: Record<string, string>;
  /** The command's kinds (cluster/specialties.ts): a node with one as a specialty wins ties. */
  kinds?: string[];
}

export interface Placement {
  nodeId: string;
  reason: string;
}

/** No node passed the filter; `exclusions` maps every node id to why it was left out. */
export class NoEligibleNodeError extends Error {
  readonly exclusions: Record<string, string>;
  constructor(exclusions: Record<string, string>) {
    const lines = Object.entries(exclusions).map(([id, why]) => `${id}: ${why}`);
    super(lines.length === 0 ? 'no eligible node: the cluster has no nodes' : `no eligible node: ${lines.join('; ')}`);
    this.name = 'NoEligibleNodeError';
    this.exclusions = exclusions;
  }
}

// The spellings the original tool, `uname` and Go/Docker platform names use, folded to ours.
// Matched case-insensitively everywhere: MCP tools, CLI --os/--arch and cluster.yaml.
const OS_ALIASES: Record<string, Os> = { linux: 'linux', macos: 'macos', darwin: 'macos', osx: 'macos', macosx: 'macos', mac: 'macos' };
const ARCH_ALIASES: Record<string, Arch> = {
  x86_64: 'x86_64',
  'x86-64': 'x86_64',
  amd64: 'x86_64',
  x64: 'x86_64',
  arm64: 'arm64',
  aarch64: 'arm64',
};
/** What an OS / arch field accepts, for descriptions and error messages. */
export const OS_ACCEPTED = 'linux or macos (any case; darwin, osx and mac mean macos)';
export const ARCH_ACCEPTED = 'x86_64 or arm64 (any case; amd64, x86-64 and x64 mean x86_64, aarch64 means arm64)';

/** `uname -s` / config spelling → Os ("Darwin" → macos); undefined when not recognised. */
export function normaliseOs(s: string): Os | undefined {
  return Object.hasOwn(OS_ALIASES, s.trim().toLowerCase()) ? OS_ALIASES[s.trim().toLowerCase()] : undefined;
}

/** `uname -m` / config spelling → Arch (aarch64 → arm64, amd64 / x86-64 → x86_64); undefined when not recognised. */
export function normaliseArch(s: string): Arch | undefined {
  return Object.hasOwn(ARCH_ALIASES, s.trim().toLowerCase()) ? ARCH_ALIASES[s.trim().toLowerCase()] : undefined;
}

/**
 * CLUSTER_LOAD_THRESHOLD keeps the original tool's meaning (an absolute 1-minute load,
 * default 4), which assumed a machine of about this many cores. Nodes differ in size, so
 * we compare load per core against loadThreshold / this: the default 4 means "about one
 * runnable process per core". When a node's core count is unknown, load1 is compared
 * against loadThreshold directly, exactly as the original tool did.
 */
export const LOAD_THRESHOLD_REFERENCE_CORES = 4;
/** Added once per metric over its threshold: such a node sorts after every node under all thresholds. */
export const OVER_THRESHOLD_PENALTY = 100;
/** Ratio assumed for a metric never probed: worse than an idle node, better than a busy one. */
export const UNKNOWN_METRIC_RATIO = 0.5;
/**
 * Heavy work is what the tool exists to offload: the local node (where the agent works) only
 * takes it when remote nodes are this much busier (as much as a remote node at full capacity).
 */
export const LOCAL_HEAVY_PENALTY = 2;
/**
 * Weight of in-flight work (reservations / max_parallel): what makes a burst spread before
 * the next probe shows its load. 2 makes a full node cost as much as two metrics at threshold.
 */
export const IN_FLIGHT_WEIGHT = 2;
/**
 * Nodes whose scores are this close to the best one count as equally loaded: among them a node
 * whose specialties match the command's kind wins. 0.1 is a tenth of one metric at its threshold
 * (4 % cpu at the default 40 %), below the noise of a probe; one reservation on a node of
 * max_parallel 8 (0.25) is more, so a burst still spreads.
 */
export const SPECIALTY_TIE_MARGIN = 0.1;

export interface NodeScore {
  nodeId: string;
  /** Lower is better. */
  score: number;
  cpuPercent?: number;
  loadPerCore?: number;
  memoryPercent?: number;
  reserved: number;
  /** reserved >= maxParallel. */
  full: boolean;
  /** Human phrases for each threshold exceeded, e.g. "load/core 2.40 over threshold 1.00". */
  over: string[];
}

/**
 * Score one node for a heavy command: the sum of cpu%/cpuThreshold, load-per-core/its
 * threshold, memory%/memoryThreshold and reservations/maxParallel, plus a heavy penalty
 * per threshold exceeded (still usable when every node is over).
 */
export function scoreNode(node: NodeConfig, state: NodeState | undefined, reserved: number, settings: Settings): NodeScore {
  const over: string[] = [];
  const ratio = (value: number | undefined, limit: number, label: string, show: (n: number) => string): number => {
    if (value === undefined || !Number.isFinite(value)) return UNKNOWN_METRIC_RATIO;
    const r = limit > 0 ? value / limit : 0;
    if (r > 1) over.push(`${label} ${show(value)} over threshold ${show(limit)}`);
    return r;
  };
  const pct = (n: number): string => `${Math.round(n)}%`;
  const fixed = (n: number): string => n.toFixed(2);

  const cores = state?.cores && state.cores > 0 ? state.cores : undefined;
  const load1 = state?.load_avg?.[0];
  const loadPerCore = load1 !== undefined && cores ? load1 / cores : undefined;
  const loadPart = cores
    ? ratio(loadPerCore, settings.loadThreshold / LOAD_THRESHOLD_REFERENCE_CORES, 'load/core', fixed)
    : ratio(load1, settings.loadThreshold, 'load', fixed);

  const cpuPart = ratio(state?.cpu_percent, settings.cpuThreshold, 'cpu', pct);
  const memPart = ratio(state?.memory_percent, settings.memoryThreshold, 'mem', pct);
  const capacity = Math.max(1, node.maxParallel);
  const inFlightPart = (IN_FLIGHT_WEIGHT * reserved) / capacity;

  return {
    nodeId: node.id,
    score: cpuPart + loadPart + memPart + inFlightPart + over.length * OVER_THRESHOLD_PENALTY + (node.local ? LOCAL_HEAVY_PENALTY : 0),
    cpuPercent: state?.cpu_percent,
    loadPerCore,
    memoryPercent: state?.memory_percent,
    reserved,
    full: reserved >= capacity,
    over,
  };
}

/** Why `node` cannot take the request, or undefined when it can. */
export function exclusionReason(req: PlacementRequest, node: NodeConfig, state: NodeState | undefined): string | undefined {
  if (state?.status === 'unreachable') return state.reason ? `unreachable (${state.reason})` : 'unreachable';
  // Config wins over the probe: an operator's statement about a node is taken as given,
  // and it is the only way a not-yet-probed node can satisfy a requirement.
  const mismatch = (what: string, want: string | undefined, have: string | undefined): string | undefined => {
    if (want === undefined || have === want) return undefined;
    if (have === undefined) return `${what} unknown (not probed yet; set ${what} in cluster.yaml), ${want} required`;
    return `${what} is ${have}, ${want} required`;
  };
  const reasons = [mismatch('os', req.requiresOs, node.os ?? state?.os), mismatch('arch', req.requiresArch, node.arch ?? state?.arch)];
  const has = new Set([...node.capabilities, ...(state?.capabilities ?? [])]);
  const missing = (req.requiresCapabilities ?? []).filter((c) => !has.has(c));
  if (missing.length > 0) reasons.push(`lacks capabilit${missing.length > 1 ? 'ies' : 'y'} ${missing.join(', ')}`);
  const found = reasons.filter((r): r is string => r !== undefined);
  return found.length > 0 ? found.join('; ') : undefined;
}

/** The nodes that may take the request, and why each other one may not. */
export function eligibleNodes(
  req: PlacementRequest,
  nodes: NodeConfig[],
  states: Record<string, NodeState>,
): { eligible: NodeConfig[]; exclusions: Record<string, string> } {
  const exclusions: Record<string, string> = {};
  const eligible: NodeConfig[] = [];
  for (const node of nodes) {
    const why = req.excludeNodes?.[node.id] ?? exclusionReason(req, node, states[node.id]);
    if (why === undefined) eligible.push(node);
    else exclusions[node.id] = why;
  }
  return { eligible, exclusions };
}

/** Orders candidates: lowest score, then higher priority, then id, so equal inputs give equal answers. */
function compareCandidates(a: { s: NodeScore; node: NodeConfig }, b: { s: NodeScore; node: NodeConfig }): number {
  if (a.s.score !== b.s.score) return a.s.score - b.s.score;
  if (a.node.priority !== b.node.priority) return b.node.priority - a.node.priority;
  return a.node.id < b.node.id ? -1 : a.node.id > b.node.id ? 1 : 0;
}

function describeFigures(s: NodeScore): string {
  const parts = [
    s.cpuPercent !== undefined ? `cpu ${Math.round(s.cpuPercent)}%` : 'cpu ?',
    s.loadPerCore !== undefined ? `load/core ${s.loadPerCore.toFixed(2)}` : undefined,
    s.memoryPercent !== undefined ? `mem ${Math.round(s.memoryPercent)}%` : 'mem ?',
    `${s.reserved} in flight`,
  ];
  return parts.filter((p) => p !== undefined).join(', ');
}

/** Why a node that could have run the command did not win: "n1 full (8/8 in flight)". */
function describeLoser(s: NodeScore, node: NodeConfig, label: string): string {
  if (s.full) return `${s.nodeId}${label}full (${s.reserved}/${node.maxParallel} in flight)`;
  if (s.over.length > 0) return `${s.nodeId}${label}${s.over.join(', ')}`;
  return `${s.nodeId}${label}scored ${s.score.toFixed(2)} (${describeFigures(s)})`;
}

/**
 * The node whose specialty matches one of the command's kinds, among those tied with the first
 * (same tier, score within SPECIALTY_TIE_MARGIN); undefined when the first is one already or none is.
 */
function preferSpecialist<C extends { node: NodeConfig; s: NodeScore }>(
  ranked: C[],
  kinds: readonly string[],
  tier: (c: C) => number,
): { winner: C; kind: string; tiedWith: string[] } | undefined {
  const first = ranked[0];
  if (!first || kinds.length === 0) return undefined;
  const matching = (c: C) => kinds.find((k) => c.node.specialties.includes(k));
  if (matching(first)) return undefined;
  const tied = ranked.filter((c) => tier(c) === tier(first) && c.s.score - first.s.score <= SPECIALTY_TIE_MARGIN);
  const winner = tied.find((c) => matching(c));
  if (!winner) return undefined;
  return { winner, kind: matching(winner)!, tiedWith: tied.filter((c) => c !== winner).map((c) => c.node.id) };
}

export interface Candidate {
  node: NodeConfig;
  s: NodeScore;
}

// Tiers: under every threshold with room, then full (overflow spreads by how full), then
// over a threshold: a busy node only gets work when nothing else is eligible.
const tier = (c: Candidate) => (c.s.over.length > 0 ? 2 : c.s.full ? 1 : 0);
const fill = (c: Candidate) => c.s.reserved / Math.max(1, c.node.maxParallel);

/** Eligible nodes best first: by tier, then score (see compareCandidates); a specialist may win a tie. */
export function rankCandidates(
  scored: readonly Candidate[],
  kinds: readonly string[],
): { ranked: Candidate[]; specialist?: { winner: Candidate; kind: string; tiedWith: string[] } } {
  const ranked = [...scored].sort((a, b) => tier(a) - tier(b) || (tier(a) === 1 ? fill(a) - fill(b) : 0) || compareCandidates(a, b));
  const specialist = preferSpecialist(ranked, kinds, tier);
  if (specialist) ranked.unshift(...ranked.splice(ranked.indexOf(specialist.winner), 1));
  return { ranked, ...(specialist ? { specialist } : {}) };
}

/**
 * Pick the node for one command. Light commands stay on the local node when it passes the
 * filter (max_parallel does not apply to them: they are cheap). Heavy ones, and light ones
 * the local node cannot take, go to the lowest-scoring eligible node; nodes at max_parallel
 * are skipped unless every node is full. `reservations` is the caller's authoritative
 * in-flight count per node (state.in_flight is not added: it would count work twice).
 */
export function pickNode(
  req: PlacementRequest,
  nodes: NodeConfig[],
  states: Record<string, NodeState>,
  reservations: Record<string, number>,
  settings: Settings,
): Placement {
  const { eligible, exclusions } = eligibleNodes(req, nodes, states);
  if (eligible.length === 0) throw new NoEligibleNodeError(exclusions);

  let prefix: string = req.weight;
  let localExcluded: string | undefined;
  if (req.weight === 'light') {
    const local = eligible.find((n) => n.local);
    if (local) return { nodeId: local.id, reason: 'light command: runs on the local node' };
    localExcluded = nodes.find((n) => n.local)?.id;
    prefix = localExcluded ? `light, local node ${localExcluded} not eligible (${exclusions[localExcluded]})` : 'light, no local node';
  }
  const otherExclusions = Object.entries(exclusions).filter(([id]) => id !== localExcluded);
  const excludedNote = otherExclusions.length > 0 ? `; excluded: ${otherExclusions.map(([id, why]) => `${id} (${why})`).join(', ')}` : '';

  const scored = eligible.map((node) => ({ node, s: scoreNode(node, states[node.id], reservations[node.id] ?? 0, settings) }));
  const { ranked, specialist } = rankCandidates(scored, req.kinds ?? []);
  const [best, runnerUp] = ranked as [Candidate, ...Candidate[]];
  const how =
    (tier(best) === 1
      ? `every node under threshold is full, ${best.node.id} least reserved`
      : best.s.over.length > 0
        ? `${best.node.id} least loaded though over threshold (${best.s.over.join(', ')})`
        : `${best.node.id} least loaded`) + (specialist ? ` (specialty ${specialist.kind} breaks a tie with ${specialist.tiedWith.join(', ')})` : '');
  const runnerUpNote = runnerUp ? `; runner-up ${describeLoser(runnerUp.s, runnerUp.node, ': ')}` : '';
  // Other nodes passed over for being busy: the "why not there" a reader asks next.
  const skipped = ranked.slice(2).filter((c) => c.s.full || c.s.over.length > 0);
  const skippedNote =
    skipped
      .slice(0, 3)
      .map((c) => `; ${describeLoser(c.s, c.node, ' skipped: ')}`)
      .join('') + (skipped.length > 3 ? `; ${skipped.length - 3} more skipped` : '');
  return {
    nodeId: best.node.id,
    reason: `${prefix}: ${how} — ${describeFigures(best.s)}${runnerUpNote}${skippedNote}${excludedNote}`,
  };
}
