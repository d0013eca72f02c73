#!/usr/bin/env bash
# The Swift test suite, debug build, default scratch path (.build). Prints the failures and the
# closing lines of the run.
set -uo pipefail
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! swift build --build-tests >"$log" 2>&1; then
  grep -E "error|warning:" -A3 "$log" | head -80
  echo "swift build --build-tests failed"
  exit 1
fi
if grep -q "warning:" "$log"; then
  grep -E "warning:" -A3 "$log" | head -40
  echo "the build has warnings"
  exit 1
fi
swift test --skip-build >"$log" 2>&1
status=$?
grep -E "✘|Fatal error|Test Suite .* (passed|failed)|Executed [0-9]+ tests" "$log" | head -60
grep -E "Test run with [0-9]+ tests" "$log"
exit $status
