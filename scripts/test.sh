#!/usr/bin/env bash
# The whole test suite in one command (what .ci/run calls): set up, then unit and workflow-replay, end-to-end
# and fault tests against a real Temporal dev server, real sshd nodes on loopback and the
# real MCP SDK client. Each test file makes its own state dir and free ports; end-to-end
# files run one at a time because loopback nodes share per-node user names (cf-n1, ...).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
SETUP_EXTRA_APT="${SETUP_EXTRA_APT:-docker-compose zsh iptables iproute2 chromium}" scripts/setup.sh
export TEMPORAL_CLI="$root/.tools/temporal/bin/temporal"
unset TEMPORAL_ADDRESS CLUSTER_CONFIG CLUSTERFLOW_HOME
unit=$(find dist/test/unit dist/test/workflows -name '*.test.js' | sort)
e2e=$(find dist/test/e2e dist/test/faults -name '*.test.js' 2>/dev/null | sort)
node --test --test-concurrency=2 --test-reporter=spec $unit
node --test --test-concurrency=1 --test-timeout=600000 --test-reporter=spec $e2e
