#!/usr/bin/env bash
# The test command named in the README: every package under the race
# detector, the spooldebug build of the journal, and a short run of each fuzz
# target. Long runs: SPOOL_FUZZTIME=10m ./test.sh (a duration or an execution count like 100000x)
set -euo pipefail
cd "$(dirname "$0")"
go test -race -count=1 ./...
go test -race -count=1 -tags spooldebug ./journal/
# An execution count, not a duration: a duration can end with a spurious
# "context deadline exceeded" from the fuzzing engine.
fuzztime="${SPOOL_FUZZTIME:-1000x}"
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "fuzz $pkg $target ($fuzztime)"
    go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" -fuzzminimizetime=1s "$pkg"
  done
done
