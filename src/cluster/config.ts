// Cluster config: cluster.yaml + the original tool's env vars + ~/.ssh/config, merged into
// the camelCase ClusterConfig every other module uses. Every failure is a ConfigError whose
// message names the file (or env var), the field and the fix.
import { existsSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { ClusterConfig, NodeConfig } from '../shared.js';
import type { NodePolicy } from './policyTypes.js';
import { envValue, mergeSettings, nodeEnvKeys, nodeEnvOverrides, settingsFromEnv } from './configEnv.js';
import { ConfigError, describeIssues, fileSchema, formatPath, type FileInput, type NodeInput } from './configSchema.js';
import { lookupSshHost, readSshConfig, type SshConfigFile } from './sshConfig.js';
import { thisMachine, thisMachineReason, type MachineIdentity } from './thisMachine.js';
import { clusterflowEnv } from '../env.js';

export { ConfigError } from './configSchema.js';
export { DEFAULT_SETTINGS, nodeEnvKeys } from './configEnv.js';

export const DEFAULT_SOURCE = 'default (no config file)';
export const DEFAULT_PORT = 22;
/** Without max_parallel a node takes this many heavy commands before placement calls it full. */
export const DEFAULT_MAX_PARALLEL = 8;

export interface ParseOptions {
  env?: NodeJS.ProcessEnv;
  /** ssh_config to honour; default `<home>/.ssh/config`. */
  sshConfigPath?: string;
  /** This machine's hostname and addresses (local node detection); default: the real ones (thisMachine.ts). */
  machine?: MachineIdentity;
}

export interface LoadOptions extends ParseOptions {
  /** Config file; overrides CLUSTER_CONFIG. */
  path?: string;
  stateDir?: string;
  cwd?: string;
}

const homeOf = (env: NodeJS.ProcessEnv): string => env.HOME || homedir();
/**
 * `$CLUSTERFLOW_HOME`, else `$AGENTIC_SYSTEM_PATH/clusterflow` (the original tool kept its
 * databases under AGENTIC_SYSTEM_PATH), else `~/.local/state/clusterflow` (DESIGN.md).
 */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const agentic = envValue(env, 'AGENTIC_SYSTEM_PATH');
  return clusterflowEnv(env).home ?? (agentic ? join(expandHome(agentic, homeOf(env)), 'clusterflow') : join(homeOf(env), '.local', 'state', 'clusterflow'));
}

function expandHome(path: string, home: string): string {
  return path === '~' ? home : path.startsWith('~/') ? join(home, path.slice(2)) : path;
}

/** Find and parse the config file; no file anywhere → one local node. */
export function loadConfig(opts: LoadOptions = {}): ClusterConfig {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const explicit = opts.path ?? envValue(env, 'CLUSTER_CONFIG');
  let file: string | undefined;
  if (explicit) {
    file = resolve(cwd, expandHome(explicit, homeOf(env)));
    if (!existsSync(file)) {
      const by = opts.path ? 'the given path' : 'CLUSTER_CONFIG';
      throw new ConfigError(`${file}: no such file (named by ${by}); fix: create it, or name an existing cluster.yaml`);
    }
  } else {
    const candidates = [join(cwd, 'cluster.yaml'), join(opts.stateDir ?? defaultStateDir(env), 'cluster.yaml')];
    file = candidates.find((c) => existsSync(c));
  }
  if (!file) return buildConfig({}, DEFAULT_SOURCE, opts);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); fix: make it a readable file`);
  }
  return parseConfig(text, file, opts);
}

/** Parse cluster.yaml text; `source` names it in errors and in `ClusterConfig.source`. */
export function parseConfig(text: string, source: string, opts: ParseOptions = {}): ClusterConfig {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors
        .map((e) => {
          const pos = e.linePos?.[0];
          const firstLine = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
          return `${source}${pos ? `:${pos.line}:${pos.col}` : ''}: invalid YAML: ${firstLine}; fix: correct the YAML syntax there`;
        })
        .join('\n'),
    );
  }
  let raw: unknown;
  try {
    raw = doc.toJS() ?? {}; // an empty file is an empty mapping
  } catch (err) {
    // e.g. an alias bomb past yaml's maxAliasCount
    throw new ConfigError(`${source}: invalid YAML: ${(err as Error).message.split('\n')[0]}; fix: simplify the anchors/aliases`);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      describeIssues(
        parsed.error.issues,
        raw,
        (path) => (path.length ? `${source}: ${formatPath(path)}` : source),
        (path) => (typeof path[path.length - 1] === 'string' ? String(path[path.length - 1]) : formatPath(path) || 'the file'),
      ),
    );
  }
  return buildConfig(parsed.data, source, opts);
}

function checkNodeSet(nodes: NodeInput[], source: string): void {
  const problems: string[] = [];
  const seen = new Map<string, number>();
  nodes.forEach((n, i) => {
    const key = n.id.toLowerCase(); // env var names fold case, so n1 and N1 would collide
    const first = seen.get(key);
    if (first !== undefined) problems.push(`${source}: nodes[${i}].id: duplicate id "${n.id}" (also nodes[${first}]); fix: give each node a unique id`);
    else seen.set(key, i);
  });
  const locals = nodes.map((n, i) => (n.local ? i : -1)).filter((i) => i >= 0);
  if (locals.length > 1) {
    problems.push(
      `${source}: nodes[${locals[1]}].local: more than one local node (nodes[${locals.join('], nodes[')}]); fix: keep local: true on one node only`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems.join('\n'));
}

/**
 * Merge one node. Precedence: CLUSTER_<NODE>_HOST/_IP > node field > ~/.ssh/config entry
 * for this host > cluster.yaml defaults > catch-all ssh_config (`Host *`) > built-in default.
 * The user: node.user > CLUSTER_SSH_USER > ssh_config Host entry > defaults.user > `Host *`
 * User > the current OS user (what plain `ssh host` would use). A per-node line beats the
 * cluster-wide CLUSTER_SSH_USER because it is the more specific statement.
 */
function buildNode(n: NodeInput, index: number, file: FileInput, ctx: MergeContext): NodeConfig {
  const envOver = nodeEnvOverrides(ctx.env, n.id);
  const base: NodeConfig = {
    id: n.id,
    local: n.local ?? false,
    port: n.port ?? file.defaults?.port ?? DEFAULT_PORT,
    capabilities: n.capabilities ?? [],
    specialties: n.specialties ?? [],
    maxParallel: n.max_parallel ?? DEFAULT_MAX_PARALLEL,
    priority: n.priority ?? 0,
    ...(n.os ? { os: n.os } : {}),
    ...(n.arch ? { arch: n.arch } : {}),
    ...(n.metrics_command ? { metricsCommand: n.metrics_command } : {}),
    ...(n.policy ? { policy: nodePolicy(n.policy) } : {}),
    ...(n.shared_paths ? { sharedPaths: n.shared_paths } : {}),
    ...(n.workspace_root ? { workspaceRoot: n.workspace_root } : {}),
    ...(n.workspace_cache_max ? { workspaceCacheMax: n.workspace_cache_max } : {}),
  };
  const host = envOver.host ?? n.host;
  const ip = envOver.ip ?? n.ip;
  const home = homeOf(ctx.env);
  if (base.local) {
    // A local node runs by child_process: ssh fields are kept only if written.
    const identityFile = n.identity_file && expandHome(n.identity_file, home);
    return { ...base, ...(host ? { host } : {}), ...(ip ? { ip } : {}), ...(n.user ? { user: n.user } : {}), ...(identityFile ? { identityFile } : {}) };
  }
  // `ssh <host>` semantics: the host (or, failing a match, the id) is an ssh_config alias.
  const lookupCtx = { home, localUser: ctx.localUser };
  let ssh = lookupSshHost(ctx.ssh, host ?? n.id, lookupCtx);
  const resolvedHost = ssh.matched ? (ssh.specific.hostName ?? host ?? n.id) : host;
  if (!ssh.matched && host !== undefined && host !== n.id) {
    const byId = lookupSshHost(ctx.ssh, n.id, lookupCtx);
    if (byId.matched) ssh = byId;
  }
  if (resolvedHost === undefined && ip === undefined) {
    throw new ConfigError(
      `${ctx.source}: nodes[${index}]: remote node "${n.id}" has no host or ip; fix: set host (or ip), set CLUSTER_${nodeEnvKeys(n.id)[0]}_HOST, add "Host ${n.id}" to ${ctx.ssh?.path ?? '~/.ssh/config'}, or mark it local: true`,
    );
  }
  const port = n.port ?? ssh.specific.port ?? file.defaults?.port ?? ssh.generic.port ?? DEFAULT_PORT;
  const user = n.user ?? ctx.envUser ?? ssh.specific.user ?? file.defaults?.user ?? ssh.generic.user ?? ctx.localUser;
  const identity = n.identity_file ?? ssh.specific.identityFile ?? file.defaults?.identity_file ?? ssh.generic.identityFile;
  return {
    ...base,
    port,
    ...(resolvedHost ? { host: resolvedHost } : {}),
    ...(ip ? { ip } : {}),
    ...(user ? { user } : {}),
    ...(identity ? { identityFile: expandHome(identity, home) } : {}),
  };
}

interface MergeContext {
  env: NodeJS.ProcessEnv;
  source: string;
  ssh: SshConfigFile | undefined;
  envUser: string | undefined;
  localUser: string;
}

function currentUser(env: NodeJS.ProcessEnv): string {
  try {
    return env.USER || userInfo().username;
  } catch {
    return env.USER ?? '';
  }
}

function buildConfig(file: FileInput, source: string, opts: ParseOptions): ClusterConfig {
  const env = opts.env ?? process.env;
  const envUser = envValue(env, 'CLUSTER_SSH_USER');
  const settings = mergeSettings(file.settings ?? {}, settingsFromEnv(env), envUser ?? file.defaults?.user);
  // No nodes listed (no file, or a file that only tunes settings): this machine alone.
  const inputs: NodeInput[] = file.nodes?.length ? file.nodes : [{ id: 'local', local: true }];
  const warnings: string[] = [];
  if (file.nodes && file.nodes.length === 0) {
    warnings.push(
      `${source}: nodes is an empty list, so the cluster is this machine alone (node "local"); fix: list the nodes, or remove the nodes key if this machine alone is what you want`,
    );
  }
  checkNodeSet(inputs, source);
  const needsSsh = inputs.some((n) => !n.local);
  const ctx: MergeContext = {
    env,
    source,
    envUser,
    ssh: needsSsh ? readSshConfig(opts.sshConfigPath ?? join(homeOf(env), '.ssh', 'config')) : undefined,
    localUser: currentUser(env),
  };
  const nodes = inputs.map((n, i) => buildNode(n, i, file, ctx));
  detectThisMachine(nodes, inputs, source, opts.machine ?? thisMachine(settings.gateway), warnings);
  return { nodes, settings, source, ...(warnings.length ? { warnings } : {}) };
}

/**
 * The node that is this machine runs without SSH even when cluster.yaml does not say `local:
 * true` (rule and reasons: thisMachine.ts). Changes `nodes` in place; two candidates are an error.
 */
function detectThisMachine(nodes: NodeConfig[], inputs: NodeInput[], source: string, machine: MachineIdentity, warnings: string[]): void {
  if (machine.gateway && !machine.gateway.address) {
    warnings.push(
      `CLUSTER_GATEWAY: ${machine.gateway.gateway} is on no subnet of this machine's interfaces, so it tells nothing about this machine's address; fix: set it to the gateway of your LAN, or unset it`,
    );
  }
  if (inputs.some((n) => n.local === true)) return;
  const found = nodes.map((n, i) => ({ n, i, why: inputs[i]!.local === undefined ? thisMachineReason(n, machine) : undefined })).filter((c) => c.why);
  if (found.length > 1) {
    throw new ConfigError(
      `${source}: ${found.map((c) => `nodes[${c.i}] (${c.n.id}): ${c.why}`).join('; ')}: more than one node is this machine; fix: write local: true on the one that should run here without SSH and local: false on the others`,
    );
  }
  const hit = found[0];
  if (hit) nodes[hit.i] = { ...hit.n, local: true, localReason: hit.why! };
}

function nodePolicy(p: NonNullable<NodeInput['policy']>): NodePolicy {
  return { ...(p.allow ? { allow: p.allow } : {}), ...(p.deny ? { deny: p.deny } : {}), ...(p.read_only !== undefined ? { readOnly: p.read_only } : {}) };
}
