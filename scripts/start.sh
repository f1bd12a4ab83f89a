#!/usr/bin/env bash
# The main job in one command: set up, bring up the loopback test cluster (3 sshd nodes) and
# run the MCP server on stdio, with an in-process worker and an embedded Temporal (unless
# TEMPORAL_ADDRESS is set). Web UI: see the log line "clusterflow ready" (ui=...).
# CLUSTERFLOW_NODES=0 skips the test cluster (then the cluster is this machine alone, or your CLUSTER_CONFIG).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
nodes="${CLUSTERFLOW_NODES:-3}"
if [ "$nodes" != 0 ] && [ -z "${CLUSTER_CONFIG:-}" ]; then
  node "$root/dist/src/cli/main.js" cluster up "$nodes" >&2
fi
exec "$root/bin/cluster-router" serve "$@"
