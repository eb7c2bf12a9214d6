#!/usr/bin/env bash
# fuzz.sh FUZZTIME pkg:Func...: run each fuzz target for FUZZTIME.
#
# A bare "context deadline exceeded" at the end of -fuzztime, with no
# failing input written, is Go's fuzz-coordinator shutdown race
# (go.dev/issue/75804, fixed in Go 1.27, not in the 1.26 we use): it is
# reported and the target's corpus is replayed deterministically instead of
# failing the run. Anything else that fails — a written failing input, a
# panic, a test error — fails the run.
set -euo pipefail
fuzztime=${1:?usage: fuzz.sh FUZZTIME pkg:Func...}
shift
go=${GO:-go}
for t in "$@"; do
  pkg=${t%%:*} fn=${t##*:}
  echo "fuzz $fn ($pkg) for $fuzztime"
  log=$(mktemp)
  if "$go" test -run='^$' -fuzz="^$fn\$" -fuzztime="$fuzztime" "$pkg" 2>&1 | tee "$log"; then
    rm -f "$log"
    continue
  fi
  if grep -q 'context deadline exceeded' "$log" && ! grep -qE 'Failing input written|panic:|_test\.go:[0-9]+:' "$log"; then
    echo "fuzz $fn: Go's -fuzztime shutdown race (go.dev/issue/75804), no failing input; replaying the corpus"
    rm -f "$log"
    "$go" test -run="^$fn\$" -count=1 "$pkg"
    continue
  fi
  rm -f "$log"
  echo "fuzz $fn ($pkg) failed" >&2
  exit 1
done
