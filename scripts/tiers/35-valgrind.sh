#!/usr/bin/env bash
# valgrind memcheck of the C programs built by tier 30 against this library (valgrind runs C
# programs; it cannot run Swift executables here). Zero errors and nothing definitely lost.
# valgrind 3.19 cannot read the DWARF 5 of the Swift toolchain's output, so the programs load a
# copy of the library stripped of debug information (LD_LIBRARY_PATH wins over their RUNPATH).
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=$(swift build -c release --scratch-path .build-release --show-bin-path)
out=.build-release/compat-tests
if [ ! -x "$out/first_design_example" ]; then
  echo "tier 30 has not built the C programs"
  exit 1
fi
lib=$(mktemp -d)
trap 'rm -rf "$lib"' EXIT
objcopy --strip-debug "$bin/libAsyncJobsC.so" "$lib/libAsyncJobsC.so"
passed=0 failed=0
for program in first_design_example mixed_libcrypto diff_jobs.asyncjobs diff_wait_ctx.asyncjobs asynctest_port.asyncjobs quirks.asyncjobs saj_extensions; do
  log="$out/$program.valgrind"
  # quirks forks a child per case: follow them.
  LD_LIBRARY_PATH="$lib" timeout 600 valgrind --error-exitcode=99 --leak-check=full \
    --errors-for-leak-kinds=definite --show-leak-kinds=definite --trace-children=yes \
    --child-silent-after-fork=no "./$out/$program" > /dev/null 2> "$log"
  status=$?
  errors=$(grep -E "ERROR SUMMARY: [1-9]" "$log" | head -1)
  if [ $status -ne 99 ] && [ -z "$errors" ]; then
    echo "PASS $program: $(grep -c 'ERROR SUMMARY: 0 errors' "$log") processes, 0 errors, nothing definitely lost"
    passed=$((passed + 1))
  else
    echo "FAIL $program (exit $status)"
    grep -E "Invalid|uninitialised|definitely lost|ERROR SUMMARY" -A6 "$log" | head -40
    failed=$((failed + 1))
  fi
done
echo "valgrind: $passed passed, $failed failed"
[ $failed -eq 0 ]
