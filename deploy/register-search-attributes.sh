#!/bin/sh
# Registers clusterflow's search attributes on a real Temporal cluster (the embedded dev server
# does this by itself). Idempotent: attributes already present with the right type are left
# alone; one present with another type is an error, since Temporal cannot change a type in place.
# POSIX sh: it runs in the temporalio/admin-tools image (Alpine) and on any machine with the
# `temporal` CLI:
#   TEMPORAL_ADDRESS=host:7233 TEMPORAL_NAMESPACE=default deploy/register-search-attributes.sh
# TLS / API key: the CLI reads TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY, TEMPORAL_TLS_CA, TEMPORAL_API_KEY.
set -eu

address="${TEMPORAL_ADDRESS:-temporal:7233}"
namespace="${TEMPORAL_NAMESPACE:-default}"
attempts="${REGISTER_MAX_ATTEMPTS:-60}"
# Keep in sync with SEARCH_ATTRIBUTES in src/shared.ts (test/e2e/deploy.test.ts checks this).
ATTRIBUTES="ClusterNode:Keyword ClusterTaskKind:Keyword ClusterExitCode:Int ClusterCommand:Text ClusterState:Keyword"

say() { echo "register-search-attributes: $*" >&2; }
tcli() { temporal "$@" --address "$address"; }

# Wait for the frontend and the namespace: auto-setup creates the namespace a moment after
# the server starts answering.
i=1
until tcli operator namespace describe --namespace "$namespace" >/dev/null 2>&1; do
  if [ "$i" -ge "$attempts" ]; then
    say "namespace '$namespace' not reachable at $address after $attempts attempts"
    exit 1
  fi
  say "waiting for namespace '$namespace' at $address ($i/$attempts)"
  i=$((i + 1))
  sleep 2
done

# Prints the registered type of $1, or nothing. The list is a table: "  Name   Type".
registered_type() {
  tcli operator search-attribute list --namespace "$namespace" | awk -v n="$1" '$1 == n { print $2 }'
}

for pair in $ATTRIBUTES; do
  name="${pair%%:*}"
  type="${pair#*:}"
  have="$(registered_type "$name")"
  if [ "$have" = "$type" ]; then
    say "$name ($type) already registered"
    continue
  fi
  if [ -n "$have" ]; then
    say "$name is registered as $have, clusterflow needs $type; fix: remove it with" \
      "'temporal operator search-attribute remove --name $name' (loses its values) and run this again"
    exit 1
  fi
  # Another registrar may race us: a failed create is fine if the attribute now exists.
  tcli operator search-attribute create --namespace "$namespace" --name "$name" --type "$type" >/dev/null || true
  have="$(registered_type "$name")"
  if [ "$have" != "$type" ]; then
    say "could not register $name ($type) in namespace '$namespace' (now: '${have:-missing}')"
    exit 1
  fi
  say "$name ($type) registered"
done
say "all search attributes present in namespace '$namespace'"
