#!/usr/bin/env bash
# Makes sure Debian's HAProxy is installed for the load tool's rolling mode
# (two replicas behind a real load balancer). Installs it with apt when
# missing and this is root; otherwise fails saying what to do.
set -euo pipefail
bin="${HAPROXY_BIN:-/usr/sbin/haproxy}"
if [ -x "$bin" ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "HAProxy not found at $bin: install Debian's haproxy package (sudo apt-get install haproxy) or set HAPROXY_BIN" >&2
  exit 1
fi
echo "installing Debian's haproxy for the rolling-deploy test…" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends haproxy >/dev/null
"$bin" -v >&2
