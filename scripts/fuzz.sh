#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each (default 30s). A
# failing input is written by Go under the package's testdata/fuzz/<Target>/
# and the run fails: commit that file, and it stays a regression test that
# `make test` runs every time.
set -euo pipefail
fuzztime="${FUZZTIME:-30s}"
status=0
for pkg in $(go list ./...); do
  for target in $(go test -tags devstack -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "fuzzing $pkg $target for $fuzztime" >&2
    if ! go test -tags devstack -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"; then
      status=1
    fi
  done
done
exit "$status"
