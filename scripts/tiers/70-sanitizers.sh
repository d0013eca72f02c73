#!/usr/bin/env bash
# The Swift test suites under AddressSanitizer (with LeakSanitizer) and ThreadSanitizer, each in
# its own scratch path. The switch layer tells the sanitizers about every stack switch
# (job_context.c), so reports are real. Suppressions: scripts/lsan.supp (toolchain leaks only).
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
filters=(--filter AsyncJobsTests --filter JobContextTests)
[ -d Tests/AsyncJobsLoopTests ] && filters+=(--filter AsyncJobsLoopTests)
status=0
cd "$here"
# Only the test product: the command-line tool (and its swift-crypto) is not under test here.
product="$(sed -n 's/^ *name: "\([^"]*\)",$/\1/p' Package.swift | head -n 1)PackageTests"
for sanitizer in address thread; do
  log=$(mktemp)
  start=$(date +%s)
  if ! swift build --product "$product" --sanitize=$sanitizer --scratch-path .build-$sanitizer >"$log" 2>&1; then
    grep -E "error" -A3 "$log" | head -40
    echo "$sanitizer: build failed"
    exit 1
  fi
  export ASAN_OPTIONS="detect_leaks=1:detect_stack_use_after_return=0"
  export LSAN_OPTIONS="suppressions=$here/scripts/lsan.supp:print_suppressions=0"
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
  timeout 900 swift test --skip-build --sanitize=$sanitizer --scratch-path .build-$sanitizer "${filters[@]}" >"$log" 2>&1
  result=$?
  reports=$(grep -cE "ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer" "$log")
  grep -E "✘|ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|SUMMARY" "$log" | head -40
  grep -E "Test run with [0-9]+ tests" "$log"
  echo "$sanitizer: exit $result, $reports sanitizer reports, $(( $(date +%s) - start ))s"
  if [ $result -ne 0 ] || [ "$reports" -ne 0 ]; then
    grep -B2 -A30 -E "ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer" "$log" | head -120
    [ "$reports" -eq 0 ] && tail -n 30 "$log"
    status=1
  fi
  rm -f "$log"
done
exit $status
