#!/usr/bin/env bash
# The whole test suite in one command (what .ci/run calls): set up, then unit and workflow tests
# (replays of recorded histories, workflows against a local dev server), then end-to-end and
# fault tests against a real Temporal dev server, real sshd nodes on loopback and the real MCP
# SDK client, and last the spine, fan-out and fault suites again against a production Temporal
# (multi-service server on PostgreSQL, scripts/temporal-prod.sh). Each test file makes its own
# state dir and free ports; end-to-end files run one at a time because loopback nodes share
# per-node user names (cf-n1, ...).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
SETUP_EXTRA_APT="${SETUP_EXTRA_APT:-docker-compose zsh iptables iproute2 chromium}" scripts/setup.sh
# Lint before any test: floating promises, the workflow sandbox's imports, formatting.
npm run --silent lint
export TEMPORAL_CLI="$root/.tools/temporal/bin/temporal"
unset TEMPORAL_ADDRESS TEMPORAL_NAMESPACE CLUSTER_CONFIG CLUSTERFLOW_HOME

# The production server builds (once, minutes: Go) while the other suites run, at the lowest
# CPU priority so their timings do not notice.
prod_build_log="$root/.tools/temporal-prod-build.log"
mkdir -p "$root/.tools"
nice -n 19 scripts/temporal-prod.sh build >"$prod_build_log" 2>&1 &
prod_build=$!
trap 'kill "$prod_build" 2>/dev/null || true' EXIT

unit=$(find dist/test/unit dist/test/workflows -name '*.test.js' | sort)
e2e=$(find dist/test/e2e dist/test/faults -name '*.test.js' | sort)
node --test --test-concurrency=2 --test-reporter=spec $unit
node --test --test-concurrency=1 --test-timeout=600000 --test-reporter=spec $e2e

# Against the production server: built once into .tools/ (cached), PostgreSQL from the machine.
# Every test file shares one codec key there, as the hosts of one deployment do. The embedded
# server's own restart fault does not apply to it.
wait "$prod_build" || { cat "$prod_build_log" >&2; echo "test.sh: building the production Temporal server failed" >&2; exit 1; }
trap 'scripts/temporal-prod.sh down >&2 || true' EXIT
eval "$(scripts/temporal-prod.sh up)"
export CLUSTERFLOW_TEST_TEMPORAL_ADDRESS="$TEMPORAL_ADDRESS" CLUSTERFLOW_TEST_TEMPORAL_NAMESPACE="$TEMPORAL_NAMESPACE"
CLUSTERFLOW_TEST_CODEC_KEY="$(node -e 'process.stdout.write(require("crypto").randomBytes(32).toString("base64"))')"
export CLUSTERFLOW_TEST_CODEC_KEY
unset TEMPORAL_ADDRESS TEMPORAL_NAMESPACE TEMPORAL_UI_URL
prod=$(find dist/test/e2e/spine.test.js dist/test/e2e/parallel.test.js dist/test/faults -name '*.test.js' ! -name 'temporalRestart.test.js' | sort)
node --test --test-concurrency=1 --test-timeout=600000 --test-reporter=spec $prod
