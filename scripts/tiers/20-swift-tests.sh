#!/usr/bin/env bash
# The Swift test suite, debug build, default scratch path (.build). Builds only the test product
# (the command-line tool's speed benchmark pulls in swift-crypto; the release tiers build it).
# Prints the failures and the closing lines of the run.
set -uo pipefail
cd "$(dirname "$0")/../.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
product="$(sed -n 's/^ *name: "\([^"]*\)",$/\1/p' Package.swift | head -n 1)PackageTests"
if ! swift build --product "$product" >"$log" 2>&1; then
  grep -E "error|warning:" -A3 "$log" | head -80
  echo "swift build --product $product failed"
  exit 1
fi
if grep -q "warning:" "$log"; then
  grep -E "warning:" -A3 "$log" | head -40
  echo "the build has warnings"
  exit 1
fi
# A hang fails the tier (and names itself) instead of eating CI's time.
timeout 900 swift test --skip-build >"$log" 2>&1
status=$?
[ $status -eq 124 ] && echo "swift test timed out after 900 s"
grep -E "✘|Fatal error|Test Suite .* (passed|failed)|Executed [0-9]+ tests" "$log" | head -60
grep -E "Test run with [0-9]+ tests" "$log"
exit $status
