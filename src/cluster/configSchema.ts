// The cluster.yaml schema (snake_case, as users write it) and the one place that turns a
// validation failure into a line a person can act on: file, field path, what is wrong, fix.
import { isIP } from 'node:net';
import { z } from 'zod';
import { ARCH_ACCEPTED, normaliseArch, normaliseOs, OS_ACCEPTED } from './placement.js';

/** Invalid configuration. `message` is one line per problem, never a stack trace. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Used in Temporal task queue names and env var names, hence the tight alphabet. */
export const NODE_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/i;

const text = z.string().trim().min(1);
const names = z.array(text);
const port = z.number().int().min(1).max(65535);
const seconds = z.number().positive();
const percent = z.number().positive().max(100);
// Aliases are folded before the enum check, so "darwin" / "aarch64" are simply accepted.
const os = z.preprocess((v) => (typeof v === 'string' ? (normaliseOs(v) ?? v) : v), z.enum(['linux', 'macos']));
const arch = z.preprocess((v) => (typeof v === 'string' ? (normaliseArch(v) ?? v) : v), z.enum(['x86_64', 'arm64']));

/** What a parser cannot decide about commands on this node (see policy.ts). */
export const nodePolicySchema = z
  .object({
    allow: names.optional(),
    deny: names.optional(),
    read_only: z.boolean().optional(),
  })
  .strict();

export const nodeSchema = z
  .object({
    id: z.string().regex(NODE_ID_PATTERN),
    local: z.boolean().optional(),
    host: text.regex(/^\S+$/).optional(),
    ip: z
      .string()
      .refine((s) => isIP(s) !== 0)
      .optional(),
    port: port.optional(),
    user: text.optional(),
    identity_file: text.optional(),
    os: os.optional(),
    arch: arch.optional(),
    capabilities: names.optional(),
    specialties: names.optional(),
    max_parallel: z.number().int().min(1).optional(),
    priority: z.number().int().optional(),
    metrics_command: text.optional(),
    policy: nodePolicySchema.optional(),
    shared_paths: z.array(text.refine((p) => p.startsWith('/'), 'an absolute path')).optional(),
    workspace_root: text.optional(),
    workspace_cache_max: z.number().int().positive().optional(),
  })
  .strict();

/** `1.2.3.4`, `1.2.3.4:53`, `::1` or `[::1]:53`: what dns.Resolver#setServers takes. */
export function isDnsServer(s: string): boolean {
  const v6port = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(s);
  if (v6port) return isIP(v6port[1]!) === 6 && (v6port[2] === undefined || Number(v6port[2]) <= 65535);
  const v4port = /^(\d+\.\d+\.\d+\.\d+):(\d{1,5})$/.exec(s);
  if (v4port) return isIP(v4port[1]!) === 4 && Number(v4port[2]) >= 1 && Number(v4port[2]) <= 65535;
  return isIP(s) !== 0;
}

const dnsServers = z.preprocess(
  (v) =>
    typeof v === 'string'
      ? v
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean)
      : v,
  z.array(z.string().refine(isDnsServer)).min(1),
);

/** Keys match the original tool's env vars without the CLUSTER_ prefix (CLUSTER_SSH_TIMEOUT → ssh_timeout). */
export const settingsSchema = z
  .object({
    ssh_timeout: seconds.optional(),
    ssh_connect_timeout: seconds.optional(),
    ssh_retries: z.number().int().min(0).optional(),
    cpu_threshold: percent.optional(),
    load_threshold: z.number().positive().optional(),
    memory_threshold: percent.optional(),
    cmd_timeout: seconds.optional(),
    status_timeout: seconds.optional(),
    ip_cache_ttl: z.number().min(0).optional(),
    host_key_policy: z.enum(['accept-new', 'strict']).optional(),
    dns: dnsServers.optional(),
    gateway: z
      .string()
      .trim()
      .refine((g) => isIP(g) !== 0)
      .optional(),
    offload_commands: names.optional(),
    local_commands: names.optional(),
    workspace_max_bytes: z.number().int().positive().optional(),
    workspace_max_files: z.number().int().positive().optional(),
  })
  .strict();

export const defaultsSchema = z
  .object({
    user: text.optional(),
    identity_file: text.optional(),
    port: port.optional(),
  })
  .strict();

export const fileSchema = z
  .object({
    defaults: defaultsSchema.optional(),
    settings: settingsSchema.optional(),
    nodes: z.array(nodeSchema).optional(),
  })
  .strict();

export type NodeInput = z.infer<typeof nodeSchema>;
export type SettingsInput = z.infer<typeof settingsSchema>;
export type FileInput = z.infer<typeof fileSchema>;

interface Hint {
  expect: string;
  example: string;
}
const secondsHint = (example: number): Hint => ({ expect: 'a number of seconds greater than 0', example: String(example) });
const percentHint = (example: number): Hint => ({ expect: 'a percentage between 0 and 100', example: String(example) });
const listHint: Hint = { expect: 'a list of names', example: '[docker, compilation]' };

/** What each field accepts and an example value, keyed by field name ("x[]" = an entry of list x). */
const HINTS: Record<string, Hint> = {
  '': { expect: 'a YAML mapping with keys defaults, settings, nodes', example: 'the shape shown in DESIGN.md' },
  defaults: { expect: 'a mapping with user, identity_file, port', example: '{ user: builder, port: 22 }' },
  settings: { expect: 'a mapping of settings', example: '{ cpu_threshold: 40 }' },
  nodes: { expect: 'a list of nodes', example: '[{ id: local, local: true }]' },
  'nodes[]': { expect: 'a node mapping', example: '{ id: builder1, host: builder1.local }' },
  id: { expect: 'a name of 1-63 letters, digits, "-" or "_" starting with a letter or digit', example: 'a name such as builder-1' },
  local: { expect: 'true or false', example: 'true' },
  host: { expect: 'a host name or address without spaces', example: 'a name such as builder1.local' },
  ip: { expect: 'an IPv4 or IPv6 address', example: "the node's address, e.g. 127.0.0.2" },
  port: { expect: 'an integer 1-65535', example: 'a number such as 22' },
  user: { expect: 'a user name', example: 'a name such as builder' },
  identity_file: { expect: 'a path to a private key', example: '~/.ssh/id_ed25519' },
  os: { expect: OS_ACCEPTED, example: 'linux or macos' },
  arch: { expect: ARCH_ACCEPTED, example: 'x86_64 or arm64' },
  capabilities: listHint,
  specialties: listHint,
  'capabilities[]': { expect: 'a name', example: 'a name such as docker' },
  'specialties[]': { expect: 'a name', example: 'a name such as gpu' },
  max_parallel: { expect: 'an integer of 1 or more', example: 'a number such as 8' },
  priority: { expect: 'an integer (higher wins ties)', example: 'a number such as 0' },
  metrics_command: { expect: 'a shell command', example: 'a command printing key=value lines' },
  policy: { expect: 'a mapping with allow, deny, read_only', example: '{ allow: [python3], deny: [docker], read_only: false }' },
  allow: { expect: 'a list of program names trusted on this node', example: '[python3]' },
  deny: { expect: 'a list of program names refused on this node', example: '[docker]' },
  'allow[]': { expect: 'a program name', example: 'a name such as python3' },
  'deny[]': { expect: 'a program name', example: 'a name such as docker' },
  read_only: { expect: 'true or false', example: 'true' },
  shared_paths: { expect: 'a list of absolute paths this node mounts as the origin does (NFS)', example: '[/srv/src]' },
  'shared_paths[]': { expect: 'an absolute path', example: '/srv/src' },
  workspace_root: { expect: 'a directory on the node for synced workspaces', example: '~/.cache/clusterflow/workspaces' },
  workspace_cache_max: { expect: 'bytes of workspaces and blobs kept on the node', example: '10737418240' },
  workspace_max_bytes: { expect: 'bytes a synced workspace may have at most', example: '2147483648' },
  workspace_max_files: { expect: 'files a synced workspace may have at most', example: '200000' },
  ssh_timeout: secondsHint(5),
  ssh_connect_timeout: secondsHint(2),
  ssh_retries: { expect: 'an integer of 0 or more', example: '2' },
  cpu_threshold: percentHint(40),
  load_threshold: { expect: 'a number greater than 0', example: '4' },
  memory_threshold: percentHint(80),
  cmd_timeout: secondsHint(300),
  status_timeout: secondsHint(5),
  ip_cache_ttl: { expect: 'a number of seconds, 0 or more', example: '300' },
  host_key_policy: { expect: 'accept-new or strict', example: 'accept-new' },
  dns: { expect: 'DNS server addresses (address or address:port, comma-separated)', example: 'your DNS server, e.g. 127.0.0.53' },
  'dns[]': { expect: 'a DNS server address (address or address:port)', example: 'an address such as 127.0.0.53 or 127.0.0.53:5353' },
  gateway: { expect: "the gateway's IP address", example: "your LAN gateway's address" },
  offload_commands: { expect: 'a list of program names', example: '[make, cargo]' },
  local_commands: { expect: 'a list of program names', example: '[ls, cat]' },
  'offload_commands[]': { expect: 'a program name', example: 'a name such as make' },
  'local_commands[]': { expect: 'a program name', example: 'a name such as ls' },
};

const KNOWN_KEYS = {
  root: Object.keys(fileSchema.shape),
  defaults: Object.keys(defaultsSchema.shape),
  settings: Object.keys(settingsSchema.shape),
  node: Object.keys(nodeSchema.shape),
  policy: Object.keys(nodePolicySchema.shape),
};

/** `nodes[2].port` style. */
export function formatPath(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'an empty value';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return JSON.stringify(v);
}

function valueAt(input: unknown, path: (string | number)[]): unknown {
  let v = input;
  for (const p of path) v = v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[p] : undefined;
  return v;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** The known key closest to `key` (camelCase and case folded first), if it is close enough to be a typo. */
export function closestKey(key: string, known: string[]): string | undefined {
  const folded = key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/-/g, '_')
    .toLowerCase();
  let best: { k: string; d: number } | undefined;
  for (const k of known) {
    const d = editDistance(folded, k);
    if (!best || d < best.d) best = { k, d };
  }
  return best && best.d <= Math.max(2, Math.floor(key.length / 2)) ? best.k : undefined;
}

function knownKeysAt(path: (string | number)[]): string[] {
  if (path.length === 0) return KNOWN_KEYS.root;
  if (path[0] === 'nodes') return path[2] === 'policy' ? KNOWN_KEYS.policy : KNOWN_KEYS.node;
  return path[0] === 'defaults' ? KNOWN_KEYS.defaults : KNOWN_KEYS.settings;
}

function hintFor(path: (string | number)[]): Hint | undefined {
  const last = path[path.length - 1];
  if (last === undefined) return HINTS[''];
  if (typeof last === 'number') return HINTS[`${String(path[path.length - 2])}[]`];
  return HINTS[last];
}

/**
 * One line per issue: `<where>: <what is wrong>; fix: <what to do>`. `where` names the
 * place (file + field path, or an env var); `fieldName` is what the fix tells the user to set.
 */
export function describeIssues(
  issues: z.ZodIssue[],
  input: unknown,
  where: (path: (string | number)[]) => string,
  fieldName: (path: (string | number)[]) => string,
): string {
  const lines = issues.map((issue) => {
    const at = where(issue.path);
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(issue.path);
      return issue.keys
        .map((key) => {
          const near = closestKey(key, known);
          const fix = near ? `did you mean "${near}"? fix: rename it to ${near}` : `fix: remove it (known keys: ${known.join(', ')})`;
          return `${where([...issue.path, key])}: unknown key "${key}"; ${fix}`;
        })
        .join('\n');
    }
    if (issue.code === 'custom' && !hintFor(issue.path)) return `${at}: ${issue.message}`;
    const hint = hintFor(issue.path);
    const got = valueAt(input, issue.path);
    const what = hint ? `expected ${hint.expect}` : issue.message;
    const fix = hint ? `; fix: set ${fieldName(issue.path)} to ${hint.example}` : '';
    return got === undefined ? `${at}: missing, ${what}${fix}` : `${at}: ${what}, got ${describeValue(got)}${fix}`;
  });
  // Unions and preprocess can report one field twice; say each thing once.
  return [...new Set(lines)].join('\n');
}
