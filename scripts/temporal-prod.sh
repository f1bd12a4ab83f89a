#!/usr/bin/env bash
# A production-shaped Temporal on this machine, without Docker: the real multi-service server
# (frontend, history, matching and worker services in one `temporal-server start`, talking to
# each other over gRPC and ringpop membership exactly as separate hosts would) on PostgreSQL,
# with SQL (advanced) visibility, our search attributes registered through the operator API,
# and a non-default namespace. docker-compose.yml stays the documented deployment; this is what
# the e2e/fan-out/fault suites can run against in CI, where there is no Docker engine.
#
#   eval "$(scripts/temporal-prod.sh up)"   # prints TEMPORAL_ADDRESS=… TEMPORAL_NAMESPACE=… TEMPORAL_UI_URL=
#   scripts/temporal-prod.sh status          # exit 0 when running, 3 when not
#   scripts/temporal-prod.sh down [--purge]  # stop server and PostgreSQL; --purge deletes the state dir
#   scripts/temporal-prod.sh selfcheck       # up, query by search attribute, down, up again (cached), down
#   scripts/temporal-prod.sh build           # only build the server (once; `up` does it when needed)
#
# stdout carries only the shell-evaluable lines of `up` (and `status` text); progress goes to
# stderr. Everything listens on 127.0.0.1 only; the server's call-home version check is off.
#
# Knobs (environment):
#   CLUSTERFLOW_PROD_DIR         state dir (default <repo>/.state/temporal-prod): PostgreSQL data,
#                                config, logs, ports. Must be traversable by the PostgreSQL account.
#   CLUSTERFLOW_PROD_PORT        frontend gRPC port (default: the previous one if free, else a free one)
#   CLUSTERFLOW_PROD_PG_PORT     PostgreSQL port (same rule)
#   CLUSTERFLOW_PROD_NAMESPACE   namespace to create (default clusterflow, retention 1 day)
#   CLUSTERFLOW_PROD_PG_USER     OS account that runs PostgreSQL when we are root (default cf-postgres)
#   CLUSTERFLOW_TOOLS_DIR        where builds are cached (default <repo>/.tools)
#   TEMPORAL_CLI                 the `temporal` CLI (default .tools/temporal/bin/temporal, see setup.sh)
set -euo pipefail
exec 3>&1 1>&2 # fd 3 = the caller's stdout; everything else is progress on stderr
root="$(cd "$(dirname "$0")/.." && pwd)"

# Pinned server release: v1.29.7 is the release docker-compose.yml runs (temporalio/auto-setup
# and admin-tools 1.29.7), so both "real" deployments share one server version and schema. It
# needs Go >= 1.25.11. Newer lines were checked too: v1.30.9, v1.31.5 and v1.32.2 require
# Go >= 1.26.10, v1.32.0 exactly the 1.26.8 this machine has (no margin for older CI images).
# Change it together with the compose images (and delete nothing: builds are per version).
SERVER_VERSION="${CLUSTERFLOW_TEMPORAL_SERVER_VERSION:-v1.29.7}"
# Only when no `temporal` CLI is installed (a clone without scripts/setup.sh): the same go-install
# fallback setup.sh uses; it embeds server v1.29.1, matching the line above.
CLI_GO_VERSION="v1.5.1"
SEARCH_ATTRIBUTES_REGISTRAR="$root/deploy/register-search-attributes.sh"

tools="${CLUSTERFLOW_TOOLS_DIR:-$root/.tools}"
# Physical path: Go keys its build cache by source paths (GOMODCACHE), so worktrees whose .tools
# is a symlink to one shared dir then share the build cache too.
mkdir -p "$tools"
tools="$(cd "$tools" && pwd -P)"
state="${CLUSTERFLOW_PROD_DIR:-$root/.state/temporal-prod}"
namespace="${CLUSTERFLOW_PROD_NAMESPACE:-clusterflow}"
pg_os_user="${CLUSTERFLOW_PROD_PG_USER:-cf-postgres}"
bindir="$tools/temporal-server/$SERVER_VERSION/bin"
server_bin="$bindir/temporal-server"
sqltool_bin="$bindir/temporal-sql-tool"
pgdata="$state/pgdata"
sockdir="$state/run"          # PostgreSQL's unix socket: private to this state dir
marker="$state/.clusterflow-temporal-prod" # `down --purge` only deletes a dir that has it

# Explicitly stderr: some helpers run inside $(…), where stdout is the captured value.
say() { echo "temporal-prod: $*" >&2; }
die() { say "error: $*"; exit 1; }

# --- tools -------------------------------------------------------------------------------

find_go() {
  command -v go 2>/dev/null || { [ -x /usr/local/go/bin/go ] && echo /usr/local/go/bin/go; } ||
    die "Go is needed to build go.temporal.io/server $SERVER_VERSION (once; cached in $tools)"
}

# All Go state under .tools: the module cache (which also holds the SQL schemas we apply) and
# the build cache survive between CI runs with one cached directory. GOTOOLCHAIN=local: never
# download a toolchain; a version that needs a newer Go fails loudly instead.
go_env() {
  export GOMODCACHE="$tools/gomod" GOCACHE="$tools/gocache" GOTOOLCHAIN=local \
    GOFLAGS=-modcacherw CGO_ENABLED=0 # -modcacherw: a plain rm -rf can clean the cache
}

# `temporal-server --version` prints "temporal version 1.29.7"; a binary that prints another
# version (or none) is rebuilt, so a second `up` never builds and a new pin always does.
have_server_build() {
  [ -x "$server_bin" ] && [ -x "$sqltool_bin" ] &&
    [ "$("$server_bin" --version 2>/dev/null)" = "temporal version ${SERVER_VERSION#v}" ]
}

ensure_server_build() {
  have_server_build && return 0
  local go t0=$SECONDS tmp
  go="$(find_go)"
  go_env
  say "building go.temporal.io/server $SERVER_VERSION with $("$go" version | cut -d' ' -f3) (a few minutes, once)"
  mkdir -p "$bindir"
  tmp="$(mktemp -d "$bindir/.build.XXXXXX")"
  # The upstream Makefile's flags: static binary, no gRPC debug modules.
  GOBIN="$tmp" "$go" install -tags disable_grpc_modules \
    "go.temporal.io/server/cmd/server@$SERVER_VERSION" \
    "go.temporal.io/server/cmd/tools/sql@$SERVER_VERSION"
  # go install names them after their package dirs; give them the upstream names. Moved into
  # place only when both built, so an interrupted build never looks finished.
  mv "$tmp/sql" "$sqltool_bin"
  mv "$tmp/server" "$server_bin"
  rmdir "$tmp"
  have_server_build || die "built $server_bin but it does not report version $SERVER_VERSION"
  say "built $SERVER_VERSION in $((SECONDS - t0)) s"
}

# The versioned SQL schemas ship in the module source, which `go install` left in GOMODCACHE.
schema_dir() { # $1 = temporal | visibility
  local dir="$tools/gomod/go.temporal.io/server@$SERVER_VERSION/schema/postgresql/v12/$1/versioned"
  if [ ! -d "$dir" ]; then # module cache pruned but binaries kept: fetch the source again
    go_env
    "$(find_go)" mod download "go.temporal.io/server@$SERVER_VERSION" >/dev/null
  fi
  [ -d "$dir" ] || die "no schema dir $dir"
  echo "$dir"
}

temporal_cli() {
  if [ -n "${TEMPORAL_CLI:-}" ]; then echo "$TEMPORAL_CLI"; return; fi
  local cli="$tools/temporal/bin/temporal"
  [ -x "$cli" ] && { echo "$cli"; return; }
  cli="$tools/temporal-server/cli-$CLI_GO_VERSION/bin/temporal"
  if [ ! -x "$cli" ]; then
    say "no temporal CLI (scripts/setup.sh installs one); building github.com/temporalio/cli $CLI_GO_VERSION"
    go_env
    GOBIN="$(dirname "$cli")" "$(find_go)" install "github.com/temporalio/cli/cmd/temporal@$CLI_GO_VERSION" >&2
  fi
  echo "$cli"
}

# PostgreSQL binaries: the machine's PATH (the polyglot image ships 15), else Debian's layout
# (/usr/lib/postgresql/<major>/bin, not on PATH), else install Debian's package.
pg_bindir() {
  local d
  if command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then
    dirname "$(command -v pg_ctl)"; return
  fi
  d="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -1)"
  if [ -z "$d" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian's postgresql package"
    # Debian would create and start a 'main' cluster on port 5432; we only want the binaries.
    # --force-confold keeps this createcluster.conf instead of prompting about it.
    mkdir -p /etc/postgresql-common
    [ -e /etc/postgresql-common/createcluster.conf ] ||
      echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o Dpkg::Options::=--force-confold postgresql >&2
    d="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -1)"
  fi
  [ -n "$d" ] || die "PostgreSQL not found (install Debian's postgresql package)"
  echo "$d"
}

# --- PostgreSQL as an unprivileged account -----------------------------------------------

# postgres refuses to run as root. As root we run initdb/pg_ctl as a system account that owns
# the data dir; setpriv (no PAM session, works in containers) or runuser as fallback.
as_pg() {
  if [ "$(id -u)" != 0 ]; then "$@"; return; fi
  if command -v setpriv >/dev/null; then
    setpriv --reuid="$pg_os_user" --regid="$pg_os_user" --clear-groups -- "$@"
  else
    runuser -u "$pg_os_user" -- "$@"
  fi
}

ensure_pg_account() {
  [ "$(id -u)" = 0 ] || return 0
  if ! id -u "$pg_os_user" >/dev/null 2>&1; then
    say "creating system account $pg_os_user to run PostgreSQL"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin "$pg_os_user"
  fi
  # The account must reach the state dir through its parents (a repo under /root would not do).
  as_pg test -x "$state" ||
    die "$pg_os_user cannot enter $state (a parent dir is private); set CLUSTERFLOW_PROD_DIR elsewhere"
}

own_pg() { if [ "$(id -u)" = 0 ]; then chown "$pg_os_user:" "$@"; fi; }

pg_ctl_() { as_pg "$pgbin/pg_ctl" -D "$pgdata" "$@"; }
pg_running() { [ -f "$pgdata/PG_VERSION" ] && pg_ctl_ status >/dev/null 2>&1; }

# psql over the private unix socket as the `temporal` superuser.
psql_() {
  PGPASSWORD="$pg_password" psql -X -q -v ON_ERROR_STOP=1 -h "$sockdir" -p "$PG_PORT" -U temporal "$@"
}

init_pg() {
  [ -f "$pgdata/PG_VERSION" ] && return 0
  say "initdb $pgdata ($("$pgbin/initdb" --version))"
  local pwfile
  mkdir -p "$pgdata"
  chmod 700 "$pgdata"
  own_pg "$pgdata"
  # The superuser is `temporal` (as in docker-compose.yml) with a random password: every
  # connection, socket or TCP, authenticates; nobody else on the machine can get in.
  pwfile="$(mktemp)"
  cat "$state/pg-password" > "$pwfile"
  own_pg "$pwfile"
  as_pg "$pgbin/initdb" -D "$pgdata" -U temporal --pwfile="$pwfile" --auth=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >"$state/initdb.log" 2>&1 ||
    { rm -f "$pwfile"; cat "$state/initdb.log"; die "initdb failed"; }
  rm -f "$pwfile"
}

start_pg() {
  pg_running && return 0
  # A unix socket path is limited to 107 bytes: $sockdir/.s.PGSQL.NNNNN must fit.
  [ "${#sockdir}" -le 90 ] || die "state dir path too long for PostgreSQL's socket: $state"
  mkdir -p "$sockdir"
  touch "$state/postgres.log"
  own_pg "$sockdir" "$state/postgres.log"
  # Settings on the command line, not in postgresql.conf: the port may change between runs.
  # max_connections: 4 services x (20 default-store + 2 visibility) connections fit with room.
  # synchronous_commit=off: a throwaway test cluster; a crash may lose the last few ms of
  # commits but never corrupts (fsync stays on).
  pg_ctl_ -l "$state/postgres.log" -w -t 60 start -o "-c listen_addresses=127.0.0.1 -p $PG_PORT \
-c unix_socket_directories='$sockdir' -c max_connections=200 -c synchronous_commit=off" >/dev/null 3>&- 9>&- ||
    { tail -20 "$state/postgres.log"; die "PostgreSQL did not start (log: $state/postgres.log)"; }
  say "PostgreSQL on 127.0.0.1:$PG_PORT"
}

# Databases and schemas: create-database + setup-schema once, update-schema once per server
# version (it applies only the missing versioned steps; the stamp skips even that when cached).
ensure_schemas() {
  local db kind stamp dir
  for kind in temporal visibility; do
    db=temporal; [ "$kind" = visibility ] && db=temporal_visibility
    stamp="$state/schema-$kind-$SERVER_VERSION.done"
    [ -f "$stamp" ] && continue
    local sql=("$sqltool_bin" --plugin postgres12 --ep 127.0.0.1 -p "$PG_PORT" -u temporal
      --pw "$pg_password" --db "$db")
    if [ -z "$(psql_ -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
      say "creating database $db"
      "${sql[@]}" create-database >>"$state/schema.log" 2>&1 || { tail -20 "$state/schema.log"; die "create-database $db failed"; }
      "${sql[@]}" setup-schema -v 0.0 >>"$state/schema.log" 2>&1 || { tail -20 "$state/schema.log"; die "setup-schema $db failed"; }
    fi
    dir="$(schema_dir "$kind")"
    say "update-schema $db ($SERVER_VERSION, $dir)"
    "${sql[@]}" update-schema -d "$dir" >>"$state/schema.log" 2>&1 ||
      { tail -20 "$state/schema.log"; die "update-schema $db failed"; }
    touch "$stamp"
  done
}

# --- ports ---------------------------------------------------------------------------------

# Every TCP port something listens on (any address), from /proc: no ss/netstat needed.
# Fields: sl local_address(hex ip:hex port) rem_address st(0A = LISTEN) ...
listening_ports() {
  local _sl local_addr _rem st _rest
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | while read -r _sl local_addr _rem st _rest; do
    if [ "$st" = 0A ]; then echo "$((16#${local_addr##*:}))"; fi
  done | sort -un
}
port_free() { ! grep -qx "$1" <<<"$busy"; }

# $1 = variable, $2 = requested port (must be free), otherwise the previous one if free, else
# a random free one below the ephemeral range (32768+) so it cannot clash with client sockets.
choose_port() {
  local var=$1 want=${2:-} prev=${!1:-} p
  if [ -n "$want" ]; then
    port_free "$want" || die "port $want (for $var) is in use"
    p=$want
  elif [ -n "$prev" ] && port_free "$prev"; then
    p=$prev
  else
    for _ in $(seq 200); do
      p=$((20000 + RANDOM % 12000))
      port_free "$p" && break
    done
  fi
  busy+=$'\n'"$p" # never hand the same port out twice
  printf -v "$var" '%s' "$p"
}

PORT_VARS="PG_PORT FRONTEND_PORT FRONTEND_MEMBERSHIP_PORT HISTORY_PORT HISTORY_MEMBERSHIP_PORT \
MATCHING_PORT MATCHING_MEMBERSHIP_PORT WORKER_PORT WORKER_MEMBERSHIP_PORT"

load_ports() {
  local v
  for v in $PORT_VARS; do printf -v "$v" '%s' ""; done
  # shellcheck disable=SC1091
  [ -f "$state/ports.env" ] && . "$state/ports.env"
  return 0
}

# Ports are kept across restarts when free, so clients holding an address reconnect.
choose_ports() {
  local v
  busy="$(listening_ports)"
  pg_running || choose_port PG_PORT "${CLUSTERFLOW_PROD_PG_PORT:-}"
  choose_port FRONTEND_PORT "${CLUSTERFLOW_PROD_PORT:-}"
  for v in FRONTEND_MEMBERSHIP_PORT HISTORY_PORT HISTORY_MEMBERSHIP_PORT MATCHING_PORT \
    MATCHING_MEMBERSHIP_PORT WORKER_PORT WORKER_MEMBERSHIP_PORT; do
    choose_port "$v"
  done
  for v in $PORT_VARS; do echo "$v=${!v}"; done >"$state/ports.env"
}

# --- Temporal server -----------------------------------------------------------------------

write_config() {
  mkdir -p "$state/config"
  # development-postgres12.yaml from the release, trimmed: no metrics/pprof listeners, no
  # archival, no HTTP API (clusterflow speaks gRPC), everything on 127.0.0.1.
  cat >"$state/config/development.yaml" <<EOF
# Written by scripts/temporal-prod.sh on every start; edit the script, not this file.
log:
  stdout: true
  level: warn
persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: 4
  datastores:
    postgres-default:
      sql:
        pluginName: postgres12
        databaseName: temporal
        connectAddr: "127.0.0.1:$PG_PORT"
        connectProtocol: tcp
        user: temporal
        password: "$pg_password"
        maxConns: 20
        maxIdleConns: 20
        maxConnLifetime: 1h
    postgres-visibility:
      sql:
        pluginName: postgres12
        databaseName: temporal_visibility
        connectAddr: "127.0.0.1:$PG_PORT"
        connectProtocol: tcp
        user: temporal
        password: "$pg_password"
        maxConns: 2
        maxIdleConns: 2
        maxConnLifetime: 1h
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1
services:
  frontend:
    rpc: { grpcPort: $FRONTEND_PORT, membershipPort: $FRONTEND_MEMBERSHIP_PORT, bindOnIP: 127.0.0.1 }
  history:
    rpc: { grpcPort: $HISTORY_PORT, membershipPort: $HISTORY_MEMBERSHIP_PORT, bindOnIP: 127.0.0.1 }
  matching:
    rpc: { grpcPort: $MATCHING_PORT, membershipPort: $MATCHING_MEMBERSHIP_PORT, bindOnIP: 127.0.0.1 }
  worker:
    rpc: { grpcPort: $WORKER_PORT, membershipPort: $WORKER_MEMBERSHIP_PORT, bindOnIP: 127.0.0.1 }
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: "127.0.0.1:$FRONTEND_PORT"
dcRedirectionPolicy:
  policy: noop
dynamicConfigClient:
  filepath: "$state/config/dynamicconfig.yaml"
  pollInterval: 10s
EOF
  chmod 600 "$state/config/development.yaml" # holds the database password

  # deploy/temporal-dynamicconfig.yaml's switches (as the embedded dev server has them), plus
  # what the dev server gets from src/temporal/devServerCli.ts.
  cat >"$state/config/dynamicconfig.yaml" <<'EOF'
# Written by scripts/temporal-prod.sh; see deploy/temporal-dynamicconfig.yaml for the why.
system.enableEagerWorkflowStart:
  - value: true
system.enableActivityEagerExecution:
  - value: true
frontend.enableUpdateWorkflowExecution:
  - value: true
# No calls home: this server only ever talks to loopback.
frontend.enableServerVersionCheck:
  - value: false
limit.maxIDLength:
  - value: 255
# up registers the search attributes and callers query them right away.
system.forceSearchAttributesCacheRefreshOnRead:
  - value: true
# Nexus needs the frontend's HTTP API, which this setup does not open (clusterflow speaks
# gRPC only); saying so keeps a warning out of the log.
system.enableNexus:
  - value: false
# Tasks reach matching without waiting for the next 50 ms transfer-queue read slot.
history.transferProcessorMaxPollRPS:
  - value: 1000
EOF
}

server_pid() { # the pid of our running server, or nothing (a stale pid file may name another process)
  local pid
  pid="$(cat "$state/temporal.pid" 2>/dev/null)" || return 0
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "temporal-server" && echo "$pid"
  return 0
}

healthy() { "$cli" operator cluster health --address "127.0.0.1:$FRONTEND_PORT" 2>/dev/null | grep -q SERVING; }

start_server() {
  say "starting Temporal $SERVER_VERSION (frontend, history, matching, worker) on 127.0.0.1:$FRONTEND_PORT"
  # setsid + nohup: the server outlives this script and its terminal. Its stdout is the log.
  # 3>&- 9>&- (here and for PostgreSQL): a daemon holding the caller's stdout would make
  # `$(… up)` wait forever, one holding the lock would block every later up/down.
  TEMPORAL_VERSION_CHECK_DISABLED=1 setsid nohup "$server_bin" --root "$state" --config config \
    --env development --allow-no-auth start </dev/null >>"$state/temporal.log" 2>&1 3>&- 9>&- &
  echo $! >"$state/temporal.pid"
  local i
  for i in $(seq 120); do
    healthy && return 0
    [ -n "$(server_pid)" ] || break
    [ $((i % 10)) = 0 ] && say "waiting for the frontend ($i/120)"
    sleep 0.5
  done
  tail -30 "$state/temporal.log"
  die "Temporal did not become healthy (log: $state/temporal.log)"
}

ensure_namespace() {
  if ! "$cli" operator namespace describe --namespace "$namespace" --address "127.0.0.1:$FRONTEND_PORT" >/dev/null 2>&1; then
    say "creating namespace $namespace"
    "$cli" operator namespace create --namespace "$namespace" --retention 24h \
      --address "127.0.0.1:$FRONTEND_PORT" >/dev/null
  fi
  # deploy/register-search-attributes.sh (what docker-compose runs) creates what is missing and
  # checks the types. Retried: a namespace created a moment ago is already in the database
  # (describe answers) but not yet in every service's namespace cache (refreshed every 2 s),
  # so the first creates can fail with "namespace not found".
  for _ in $(seq 10); do
    PATH="$(dirname "$cli"):$PATH" TEMPORAL_ADDRESS="127.0.0.1:$FRONTEND_PORT" TEMPORAL_NAMESPACE="$namespace" \
      REGISTER_MAX_ATTEMPTS=30 sh "$SEARCH_ATTRIBUTES_REGISTRAR" >"$state/register.log" 2>&1 && return 0
    sleep 1
  done
  cat "$state/register.log"
  die "could not register the search attributes in $namespace"
}

# Ready = a visibility query on our attributes works in our namespace (what callers do first).
wait_queryable() {
  for _ in $(seq 60); do
    "$cli" workflow list --namespace "$namespace" --query 'ClusterNode="n1"' --limit 1 \
      --address "127.0.0.1:$FRONTEND_PORT" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  "$cli" workflow list --namespace "$namespace" --query 'ClusterNode="n1"' --limit 1 \
    --address "127.0.0.1:$FRONTEND_PORT" || die "visibility query in $namespace fails"
}

print_env() {
  {
    echo "TEMPORAL_ADDRESS=127.0.0.1:$FRONTEND_PORT"
    echo "TEMPORAL_NAMESPACE=$namespace"
    echo "TEMPORAL_UI_URL=" # no Web UI in this setup (see the header)
  } >&3
}

# --- commands ------------------------------------------------------------------------------

read_password() {
  if [ ! -s "$state/pg-password" ]; then
    (umask 077 && od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$state/pg-password")
  fi
  pg_password="$(cat "$state/pg-password")"
}

lock_state() {
  mkdir -p "$state"
  touch "$marker"
  exec 9>"$state/.lock"
  flock 9 # one up/down at a time per state dir (parallel test files may race)
}

cmd_up() {
  lock_state
  load_ports
  cli="$(temporal_cli)"
  # Fast path: already running and answering; print the same lines again (after making sure
  # the namespace exists: CLUSTERFLOW_PROD_NAMESPACE may name another one this time).
  if [ -n "$(server_pid)" ] && [ -n "${FRONTEND_PORT:-}" ] && healthy; then
    if ! "$cli" operator namespace describe --namespace "$namespace" \
      --address "127.0.0.1:$FRONTEND_PORT" >/dev/null 2>&1; then
      ensure_namespace
      wait_queryable
    fi
    print_env
    return 0
  fi
  local t0=$SECONDS
  ensure_server_build
  pgbin="$(pg_bindir)"
  read_password
  ensure_pg_account
  # A server without its database is useless; stop a stale one before changing ports.
  if [ -n "$(server_pid)" ]; then stop_server; fi
  choose_ports
  init_pg
  start_pg
  ensure_schemas
  write_config
  start_server
  ensure_namespace
  wait_queryable
  say "ready in $((SECONDS - t0)) s: 127.0.0.1:$FRONTEND_PORT namespace $namespace (logs in $state)"
  print_env
}

stop_server() {
  local pid i
  pid="$(server_pid)"
  [ -n "$pid" ] || return 0
  say "stopping Temporal (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 60); do
    kill -0 "$pid" 2>/dev/null || break
    [ "$i" = 60 ] && { say "Temporal did not stop in 30 s; killing it"; kill -KILL "$pid" 2>/dev/null || true; }
    sleep 0.5
  done
  rm -f "$state/temporal.pid"
}

cmd_down() {
  local purge=${1:-}
  [ -z "$purge" ] || [ "$purge" = --purge ] || die "usage: $0 down [--purge]"
  [ -d "$state" ] || { say "nothing at $state"; return 0; }
  lock_state
  stop_server
  if [ -f "$pgdata/PG_VERSION" ]; then
    pgbin="$(pg_bindir)"
    if pg_running; then
      say "stopping PostgreSQL"
      pg_ctl_ -m fast -w -t 60 stop >/dev/null
    fi
  fi
  if [ "$purge" = --purge ]; then
    [ -f "$marker" ] || die "$state is not a temporal-prod state dir; not deleting it"
    say "deleting $state"
    rm -rf "$state"
  fi
}

cmd_status() {
  load_ports
  cli="$(temporal_cli)"
  local pid
  pid="$(server_pid)"
  if [ -n "$pid" ] && [ -n "${FRONTEND_PORT:-}" ] && healthy; then
    echo "running: Temporal $SERVER_VERSION pid $pid at 127.0.0.1:$FRONTEND_PORT, namespace $namespace," \
      "PostgreSQL at 127.0.0.1:$PG_PORT, state $state" >&3
    return 0
  fi
  if [ -n "$pid" ]; then echo "unhealthy: Temporal pid $pid does not answer (log: $state/temporal.log)" >&3
  else echo "stopped (state $state)" >&3; fi
  return 3
}

# up, a visibility query by search attribute, down, up on the cached path, down: timings on stderr.
cmd_selfcheck() {
  local out t0 addr
  t0=$SECONDS
  out="$("$0" up)"
  eval "$out"
  addr="$TEMPORAL_ADDRESS"
  say "selfcheck: up took $((SECONDS - t0)) s: ${out//$'\n'/ }"
  cli="$(temporal_cli)"
  "$cli" workflow list --namespace "$TEMPORAL_NAMESPACE" --query 'ClusterNode="n1"' --address "$addr" >/dev/null
  "$cli" operator search-attribute list --namespace "$TEMPORAL_NAMESPACE" --address "$addr" | grep Cluster >&2
  # A workflow carrying our attributes (no worker needed: it stays Running) must be found by
  # them: writes and reads of SQL visibility with custom attributes, end to end.
  local wid="selfcheck-$$-$RANDOM" q n=0
  q="WorkflowId=\"$wid\" AND ClusterNode=\"n1\" AND ClusterExitCode=0 AND ClusterState=\"Running\""
  "$cli" workflow start --namespace "$TEMPORAL_NAMESPACE" --address "$addr" --workflow-id "$wid" \
    --type selfcheck --task-queue selfcheck --search-attribute 'ClusterNode="n1"' \
    --search-attribute 'ClusterExitCode=0' --search-attribute 'ClusterState="Running"' \
    --search-attribute 'ClusterCommand="echo selfcheck"' >/dev/null
  for _ in $(seq 20); do
    n="$("$cli" workflow count --namespace "$TEMPORAL_NAMESPACE" --address "$addr" --query "$q" | awk '{ print $NF }')"
    [ "$n" = 1 ] && break
    sleep 0.5
  done
  "$cli" workflow terminate --namespace "$TEMPORAL_NAMESPACE" --address "$addr" --workflow-id "$wid" \
    --reason selfcheck >/dev/null
  [ "$n" = 1 ] || die "selfcheck: workflow $wid not found by its search attributes (count: $n)"
  say "selfcheck: workflow found by its search attributes"
  [ "$("$0" up)" = "$out" ] || die "selfcheck: a second up while running printed other lines"
  t0=$SECONDS; "$0" down; say "selfcheck: down took $((SECONDS - t0)) s"
  t0=$SECONDS; out="$("$0" up)"; say "selfcheck: cached up took $((SECONDS - t0)) s"
  eval "$out"
  "$cli" workflow list --namespace "$TEMPORAL_NAMESPACE" --query 'ClusterNode="n1"' --address "$TEMPORAL_ADDRESS" >/dev/null
  t0=$SECONDS; "$0" down; say "selfcheck: down took $((SECONDS - t0)) s"
  say "selfcheck: ok"
}

case "${1:-}" in
  build) ensure_server_build ;;
  up) cmd_up ;;
  down) shift; cmd_down "$@" ;;
  status) cmd_status ;;
  selfcheck) cmd_selfcheck ;;
  *) die "usage: $0 build|up|down [--purge]|status|selfcheck" ;;
esac
