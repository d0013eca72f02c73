#!/usr/bin/env bash
# The gdb command that lists paused jobs (Tools/gdb/asyncjobs.py), in batch mode, live and from
# a core file: Tests/Debugger/paused_jobs.c pauses three jobs of the release C library at known
# places, then stops with SIGTRAP (gdb lists them there) or aborts (a second gdb lists them from
# the kernel's core file). Both listings must show the three jobs and the functions they wait in.
set -uo pipefail
cd "$(dirname "$0")/../.."
command -v gdb >/dev/null || { echo "gdb is not installed (scripts/apt-packages)"; exit 1; }
bin=$(swift build -c release --scratch-path .build-release --show-bin-path)
mkdir -p "$bin"
if ! swift build -c release --scratch-path .build-release --product AsyncJobsC > "$bin/../build-AsyncJobsC.log" 2>&1; then
  tail -n 30 "$bin/../build-AsyncJobsC.log"
  echo "release build of AsyncJobsC failed"
  exit 1
fi
out=.build-release/debugger-tests
rm -rf "$out" && mkdir -p "$out"
cc -std=c11 -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Werror Tests/Debugger/paused_jobs.c \
  -I Sources/CAsyncJobsCompat/include -L"$bin" -lAsyncJobsC -Wl,-rpath,"$(cd "$bin" && pwd)" \
  -o "$out/paused_jobs" || { echo "FAIL building Tests/Debugger/paused_jobs.c"; exit 1; }
passed=0 failed=0
check() {  # check NAME FILE: the listing shows the three jobs and where each waits
  local name=$1 file=$2 missing=""
  for want in "asyncjobs: 3 paused jobs in 1 pool" "3 paused jobs" "wait_for_device" "handle_request" \
              "descend" "deep_job" "pause_twice" "paused_jobs.c:" "guard page"; do
    grep -qF "$want" "$file" || missing="$missing '$want'"
  done
  # 13 nested descend frames (depth 12 and its caller's call) on the deep job's stack.
  local descents
  descents=$(grep -c " descend " "$file")
  [ "$descents" -ge 13 ] || missing="$missing '13 descend frames (saw $descents)'"
  if [ -z "$missing" ]; then echo "PASS $name"; passed=$((passed + 1));
  else echo "FAIL $name: missing$missing"; sed 's/^/    /' "$file" | head -60; failed=$((failed + 1)); fi
}
quiet=(-batch -nx -iex "set complaints 0" -x Tools/gdb/asyncjobs.py)
gdb "${quiet[@]}" -ex run -ex asyncjobs-paused -ex kill "$out/paused_jobs" > "$out/live.txt" 2>&1
check "gdb lists the paused jobs of a live process" "$out/live.txt"
# A core file from the kernel (gdb's own generate-core-file reads the stacks' mapping through
# /proc/PID/mem, which stops at the lightweight guard pages inside it and leaves zeros).
pattern=$(cat /proc/sys/kernel/core_pattern)
if [ "${pattern#|}" != "$pattern" ]; then
  echo "SKIP the core-file listing: core dumps go to a program here ($pattern), not to a file"
else
  rm -f "$out"/core*
  bash -c 'cd "$1" && ulimit -c unlimited && PAUSED_JOBS_ABORT=1 exec ./paused_jobs' _ "$out" > /dev/null 2>&1
  core=$(find "$out" "$(dirname "$pattern")" -maxdepth 1 -name 'core*' -newer "$out/paused_jobs" -type f 2>/dev/null | head -1)
  if [ -n "$core" ]; then
    gdb "${quiet[@]}" -ex asyncjobs-paused "$out/paused_jobs" "$core" > "$out/core.txt" 2>&1
    check "gdb lists the paused jobs from a core file" "$out/core.txt"
    rm -f "$core"
  else
    echo "FAIL the aborted program left no core file (core_pattern $pattern)"; failed=$((failed + 1))
  fi
fi
# Without gdb the program runs through: the jobs finish.
if "$out/paused_jobs" | grep -qx "results 41 12 7"; then echo "PASS the program's jobs finish"; passed=$((passed + 1));
else echo "FAIL the program's jobs did not finish"; failed=$((failed + 1)); fi
echo "debugger: $passed passed, $failed failed"
[ $failed -eq 0 ]
