#!/bin/sh
# Installs the peer tools the benches compare clusterflow with (Debian packages): pdsh and
# GNU parallel (bench/fanout), rsync (bench/workspace), the OpenSSH client. Idempotent:
# installs only what is missing, so a second run touches neither the network nor dpkg.
set -eu

missing=
for pkg in pdsh parallel rsync openssh-client; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing="$missing $pkg"
  fi
done

if [ -n "$missing" ]; then
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "bench/setup: installing$missing" >&2
  ${SUDO:-} apt-get update -qq
  DEBIAN_FRONTEND=noninteractive ${SUDO:-} apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# GNU parallel asks for a citation once per user; the bench passes --will-cite anyway.
for tool in pdsh parallel rsync ssh xargs tar; do
  command -v "$tool" >/dev/null 2>&1 || { echo "bench/setup: $tool still missing after install" >&2; exit 1; }
done
echo "bench/setup: pdsh $(pdsh -V 2>&1 | head -n1 | cut -d' ' -f1), $(parallel --version | head -n1), $(rsync --version | head -n1), $(ssh -V 2>&1)" >&2
