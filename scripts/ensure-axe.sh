#!/usr/bin/env bash
# Makes sure axe-core, at the exact version tools/axe/package-lock.json pins, is
# in tools/axe/node_modules for the browser tests' accessibility checks
# (cmd/blink-consent/a11y_test.go). Installs it with `npm ci` when missing or at
# another version; fails saying what to do when it cannot. Never skips.
set -euo pipefail
dir="$(cd "$(dirname "$0")/../tools/axe" && pwd)"
want="$(node -e 'console.log(require(process.argv[1]).packages["node_modules/axe-core"].version)' "$dir/package-lock.json" 2>/dev/null)" || {
  echo "ensure-axe: cannot read the pinned axe-core version from $dir/package-lock.json with node: install Node.js (20 or later) and npm" >&2
  exit 1
}
have="$(node -e 'console.log(require(process.argv[1]).version)' "$dir/node_modules/axe-core/package.json" 2>/dev/null || true)"
if [ "$have" = "$want" ] && [ -s "$dir/node_modules/axe-core/axe.min.js" ]; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "ensure-axe: npm not found: install Node.js (20 or later) with npm, then run make test again" >&2
  exit 1
fi
echo "installing axe-core $want for the accessibility checks (npm ci in tools/axe)…" >&2
if ! (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2); then
  echo "ensure-axe: npm ci in $dir failed: the accessibility checks need axe-core $want from the npm registry" >&2
  exit 1
fi
have="$(node -e 'console.log(require(process.argv[1]).version)' "$dir/node_modules/axe-core/package.json")"
if [ "$have" != "$want" ] || [ ! -s "$dir/node_modules/axe-core/axe.min.js" ]; then
  echo "ensure-axe: after npm ci, axe-core is ${have:-missing}, want $want" >&2
  exit 1
fi
