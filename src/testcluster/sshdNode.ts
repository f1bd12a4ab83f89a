// One test node = one real OpenSSH sshd on its own loopback address and port, with its own
// host key, config, log and authorized_keys under <dir>/<id>/.
import { execFile, spawn } from 'node:child_process';
import { access, mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { reservePort } from './loopbackAddresses.js';
import { isProcessAlive, killProcessTree } from './procTree.js';

const run = promisify(execFile);
export const SSHD_PATH = '/usr/sbin/sshd'; // absolute: sshd re-executes itself per connection

// prctl(PR_SET_CHILD_SUBREAPER) survives execve: with it the sshd listener adopts orphaned
// session processes (sshd's own, and anything a command leaves behind) and reaps them at once.
// Without it they become zombies of PID 1, which in containers may reap them seconds later,
// and `ps -u cf-n1` shows strays that are not the product's fault; it also keeps daemonised
// leftovers inside the tree that stopSshd kills. perl is Essential on Debian; prctl is libc-free.
const PRCTL_SYSCALL: Partial<Record<string, number>> = { x64: 157, arm64: 167 };
const PR_SET_CHILD_SUBREAPER = 36;

async function sshdCommandLine(args: string[], hide: readonly string[], log: string): Promise<[string, string[]]> {
  const syscallNumber = PRCTL_SYSCALL[process.arch];
  const perlFound = await access('/usr/bin/perl').then(
    () => true,
    () => false,
  );
  let line: [string, string[]] = [SSHD_PATH, args];
  if (syscallNumber !== undefined && perlFound) {
    const script = `syscall(${syscallNumber}, ${PR_SET_CHILD_SUBREAPER}, 1, 0, 0, 0); exec { $ARGV[0] } @ARGV or die "exec: $!";`;
    line = ['/usr/bin/perl', ['-e', script, SSHD_PATH, ...args]];
  }
  return hide.length > 0 ? hidingWrapper(line, hide, log) : line;
}

// Loopback nodes share this machine's filesystem; real nodes do not see the origin's files.
// As root, the node's sshd (and every session under it) runs in its own mount namespace with
// an empty read-only tmpfs over each hidden directory; the host's mounts are untouched
// (private propagation). unshare without --fork execs in place, so the pid stays sshd's.
const HIDE_SCRIPT = `log=$1; shift
while [ "$1" != -- ]; do
  mount -t tmpfs -o size=64k,mode=0755,ro cf-hidden "$1" 2>>"$log" || { echo "testcluster: cannot hide $1" >>"$log"; exit 1; }
  shift
done
shift; exec "$@"`;

function hidingWrapper([command, args]: [string, string[]], hide: readonly string[], log: string): [string, string[]] {
  return ['unshare', ['-m', '--propagation', 'private', 'sh', '-c', HIDE_SCRIPT, 'cf-hide', log, ...hide, '--', command, ...args]];
}

export interface NodePaths {
  nodeDir: string;
  config: string;
  hostKey: string;
  log: string;
  pidFile: string;
  authorizedKeys: string;
}

export function nodePaths(dir: string, id: string): NodePaths {
  const nodeDir = join(dir, id);
  return {
    nodeDir,
    config: join(nodeDir, 'sshd_config'),
    hostKey: join(nodeDir, 'ssh_host_ed25519_key'),
    log: join(nodeDir, 'sshd.log'),
    pidFile: join(nodeDir, 'sshd.pid'),
    authorizedKeys: join(nodeDir, 'authorized_keys'),
  };
}

/** ed25519 key pair without passphrase, kept when it already exists (known_hosts stays valid). */
export async function ensureKeyPair(path: string, comment: string): Promise<void> {
  try {
    await access(path);
    await access(`${path}.pub`);
  } catch {
    await rm(path, { force: true });
    await rm(`${path}.pub`, { force: true });
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path]);
  }
}

export interface SshdSpec {
  id: string;
  host: string;
  port: number;
  user: string;
}

function sshdConfig(paths: NodePaths, spec: SshdSpec, strictModes: boolean): string {
  return [
    `# clusterflow loopback test node ${spec.id}: generated, rewritten on every start`,
    `ListenAddress ${spec.host}:${spec.port}`,
    `HostKey ${paths.hostKey}`,
    `PidFile ${paths.pidFile}`,
    `AuthorizedKeysFile ${paths.authorizedKeys}`,
    `AllowUsers ${spec.user}`,
    'PermitRootLogin no',
    'AuthenticationMethods publickey',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'HostbasedAuthentication no',
    'UsePAM no',
    // StrictModes rejects keys under group/world-writable ancestors such as /tmp.
    `StrictModes ${strictModes ? 'yes' : 'no'}`,
    'PermitUserEnvironment no',
    'PrintMotd no',
    'PrintLastLog no',
    'UseDNS no',
    'X11Forwarding no',
    // Tests open many connections at once; the default 10:30:100 drops them.
    'MaxStartups 100:30:200',
    'MaxSessions 10',
    'LogLevel INFO',
    'Subsystem sftp internal-sftp',
    '',
  ].join('\n');
}

async function fileSize(path: string): Promise<number> {
  try {
    const handle = await open(path, 'r');
    try {
      return (await handle.stat()).size;
    } finally {
      await handle.close();
    }
  } catch {
    return 0;
  }
}

async function readFrom(path: string, offset: number): Promise<string> {
  const text = await readFile(path).catch(() => Buffer.alloc(0));
  return text.subarray(offset).toString('utf8');
}

type Launch = { pid: number } | { failed: string };

/** Starts sshd and waits for its "Server listening" log line (proof that *our* sshd bound the port). */
async function launch(paths: NodePaths, spec: SshdSpec, timeoutMs: number, hide: readonly string[]): Promise<Launch> {
  const logOffset = await fileSize(paths.log);
  await rm(paths.pidFile, { force: true });
  const [command, args] = await sshdCommandLine(['-D', '-f', paths.config, '-E', paths.log], hide, paths.log);
  const child = spawn(command, args, { detached: true, stdio: 'ignore' });
  let exited: string | null = null;
  child.once('exit', (code, sig) => {
    exited = `sshd exited (${sig ?? `code ${code}`})`;
  });
  child.once('error', (err) => {
    exited = `cannot start ${SSHD_PATH}: ${err.message}`;
  });
  child.unref(); // the cluster outlives the process that started it (`cluster-router cluster up`)
  const listening = `Server listening on ${spec.host} port ${spec.port}.`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const log = await readFrom(paths.log, logOffset);
    if (log.includes(listening) && child.pid !== undefined) return { pid: child.pid };
    if (exited !== null) return { failed: `${exited}: ${log.trim() || '(empty log)'}` };
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  if (child.pid !== undefined) await killProcessTree(child.pid, 200);
  return { failed: `sshd did not report listening on ${spec.host}:${spec.port} within ${timeoutMs} ms; see ${paths.log}` };
}

/**
 * Writes the config and starts the node's sshd. With `pickPort`, a port lost to another
 * process between reservation and sshd's bind is replaced by a fresh one (up to 5 tries).
 * `hide` (root only; the caller checks): directories the node must not see.
 */
export async function startSshd(
  dir: string,
  spec: SshdSpec,
  opts: { pickPort: boolean; strictModes: boolean; hide?: readonly string[] },
): Promise<{ pid: number; port: number }> {
  const paths = nodePaths(dir, spec.id);
  let port = spec.port;
  for (let attempt = 1; ; attempt++) {
    await writeFile(paths.config, sshdConfig(paths, { ...spec, port }, opts.strictModes), { mode: 0o644 });
    const result = await launch(paths, { ...spec, port }, 5000, opts.hide ?? []);
    if ('pid' in result) return { pid: result.pid, port };
    if (!opts.pickPort || attempt >= 5 || !/Address already in use/.test(result.failed)) {
      throw new Error(`testcluster: node ${spec.id}: ${result.failed}`);
    }
    port = await reservePort(spec.host);
  }
}

/** The running sshd's pid for a node (pid file first, then `fallbackPid`), or 0 when none runs. */
export async function runningSshdPid(dir: string, id: string, fallbackPid = 0): Promise<number> {
  const paths = nodePaths(dir, id);
  const fromFile = Number((await readFile(paths.pidFile, 'utf8').catch(() => '')).trim());
  for (const pid of [fromFile, fallbackPid]) {
    // The config path in its command line ties the pid to this node, not a recycled pid.
    if (await isProcessAlive(pid, paths.config)) return pid;
  }
  return 0;
}

/** Stops the node's sshd and every session under it (a stopped node drops its connections). */
export async function stopSshd(dir: string, id: string, fallbackPid = 0): Promise<void> {
  const pid = await runningSshdPid(dir, id, fallbackPid);
  if (pid > 0) await killProcessTree(pid);
  await rm(nodePaths(dir, id).pidFile, { force: true });
}

export async function ensureNodeDir(dir: string, id: string): Promise<NodePaths> {
  const paths = nodePaths(dir, id);
  // 0755: as root, sshd reads authorized_keys with the node user's uid.
  await mkdir(paths.nodeDir, { recursive: true, mode: 0o755 });
  return paths;
}
