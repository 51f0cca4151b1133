#!/usr/bin/env bash
# make unit: the fast tests (no PostgreSQL, Hydra or Chromium), with the
# statement coverage of each package, and a floor for the flows: each flow's
# rules are tested beside it with fakes of its small interfaces
# (docs/testing.md, "Unit tests"). A flow under its floor fails the run.
set -uo pipefail
GO=${GO:-go}
FLOOR=60
pkgs=$($GO list ./... | grep -v -e /cmd/ -e /deploy -e /internal/store -e '/internal/identity$' -e '/internal/devstack$')
out=$($GO test -tags devstack -count=1 -cover $pkgs 2>&1)
status=$?
echo "$out"
[ $status -eq 0 ] || exit $status
module=$($GO list -m)
for flow in login consent logout account; do
	line=$(grep -E "^ok[[:space:]]+$module/$flow[[:space:]]" <<<"$out" || true)
	pct=$(sed -nE 's/.*coverage: ([0-9.]+)% of statements.*/\1/p' <<<"$line")
	if [ -z "$pct" ]; then
		echo "unit: no coverage reported for $flow: does it have tests?" >&2
		exit 1
	fi
	if awk -v p="$pct" -v f="$FLOOR" 'BEGIN { exit !(p < f) }'; then
		echo "unit: $flow covers $pct% of its statements, under the floor of $FLOOR%" >&2
		exit 1
	fi
done
echo "unit: login, consent, logout and account are each at or above $FLOOR% statement coverage"
