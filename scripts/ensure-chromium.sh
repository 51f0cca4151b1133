#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed for the browser tests. Installs it
# with apt when missing and this is root; otherwise fails saying what to do.
set -euo pipefail
bin="${CHROMIUM_BIN:-/usr/bin/chromium}"
if [ -x "$bin" ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "Chromium not found at $bin: install Debian's chromium package (sudo apt-get install chromium) or set CHROMIUM_BIN" >&2
  exit 1
fi
echo "installing Debian's chromium for the browser tests…" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
"$bin" --version >&2
