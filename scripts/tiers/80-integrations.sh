#!/usr/bin/env bash
# The nested packages and the speed command:
# 1. the nested package Integrations/ (SwiftNIO: EventLoopJobRunner, the example signing server and
#    its loopback HTTP tests), debug, in its own Integrations/.build; then `scripts/bench-server
#    --smoke` on that build: every mode of the server under wrk for a second (every response
#    checked, sampled signatures verified, no errors); it times nothing;
# 2. the nested package Tools/ (the `asyncjobs` command), release with its tests (the manual
#    pages' examples print exactly their transcripts), in its own Tools/.build; tier 85 runs its
#    soak from the same build;
# 3. a smoke run of `asyncjobs speed` from that build: every operation with both notify modes for
#    one second, checking the exit status and the report's sections. It times nothing: the numbers
#    are for docs/speed.md, not for CI.
# 4. the nested package Metrics/ (swift-metrics, swift-prometheus): its tests, and its example
#    prints the loop's metrics in Prometheus' format;
# 5. `asyncjobs paused` lists a running loop's paused jobs with their pauses and backtraces.
# Prints how long each step took.
set -uo pipefail
cd "$(dirname "$0")/../.."
status=0
step() { # step NAME COMMAND...: runs it with its output in a log, prints the time; the log on failure
  local name=$1; shift
  local log start
  log=$(mktemp)
  start=$(date +%s)
  echo "+ $*"
  if "$@" >"$log" 2>&1; then
    echo "  $name: ok in $(( $(date +%s) - start ))s"
    grep -E "^/.*warning:" "$log" | sort -u | head -20
    if grep -qE "^/.*warning:" "$log"; then echo "  $name: the build has warnings"; status=1; fi
  else
    grep -Ev '^\[[0-9]+/[0-9]+\] ' "$log" | tail -60
    echo "  $name: FAILED after $(( $(date +%s) - start ))s"
    status=1
  fi
  LAST_LOG=$log
}

step "integrations build" swift build --package-path Integrations --build-tests
if [ $status -eq 0 ]; then
  step "integrations tests" swift test --package-path Integrations --skip-build
  grep -E "✘|Test run with [0-9]+ tests" "$LAST_LOG"
fi
if [ $status -eq 0 ]; then
  step "bench-server --smoke" scripts/bench-server --smoke
  grep -E "^bench-server: (no errors|[0-9]+ errors)" "$LAST_LOG"
fi

# One release build of Tools/ serves its tests, the smoke runs and the soak (tier 85).
step "tools release build" swift build -c release --package-path Tools --build-tests
if [ $status -eq 0 ]; then
  step "tools tests" swift test -c release --package-path Tools --skip-build
  grep -E "✘|Test run with [0-9]+ tests" "$LAST_LOG"
fi
if [ $status -eq 0 ]; then
  bin=$(swift build -c release --package-path Tools --show-bin-path)/asyncjobs
  for operation in sha256 p256-sign accel; do
    for notify in fd callback; do
      step "speed $operation --notify $notify" "$bin" speed "$operation" --notify "$notify" --seconds 1 --jobs 32 --no-progress
      out=$LAST_LOG
      for section in "== $operation:" "ops/s" "p99.9" "sync, 1 thread" "jobs, 1 loop thread, notify $notify" \
        "Swift concurrency, a task per op" "loop thread:"; do
        if ! grep -qF -- "$section" "$out"; then
          echo "  speed $operation --notify $notify: the report has no '$section'"
          cat "$out"
          status=1
        fi
      done
      if grep -q "error:" "$out"; then cat "$out"; status=1; fi
    done
  done
  sed -n '1,2p' "$out"
  # --variant runs only the variants named; --targets refuses it.
  step "speed accel --variant jobs" "$bin" speed accel --variant jobs --seconds 0.5 --jobs 32 --no-progress
  out=$LAST_LOG
  if ! grep -qF "jobs, 1 loop thread" "$out" || grep -qE "^sync, 1 thread|^Swift concurrency" "$out"; then
    echo "  speed accel --variant jobs: expected the jobs row only"
    cat "$out"
    status=1
  fi
  # --loops 2: the jobs variant on one loop and on a group of two, with the scaling line.
  step "speed sha256 --loops 2" "$bin" speed sha256 --loops 2 --variant jobs --seconds 0.5 --jobs 32 --no-progress
  out=$LAST_LOG
  for section in "jobs, 1 loop thread" "jobs, 2 loop threads" "one loop" "loop threads:" "2 engine threads:" \
    "processors allow at most"; do
    if ! grep -qF -- "$section" "$out"; then
      echo "  speed sha256 --loops 2: the report has no '$section'"
      cat "$out"
      status=1
    fi
  done
  if "$bin" speed --targets --variant jobs >"$out" 2>&1 || ! grep -qF -- "--variant does not apply to --targets" "$out"; then
    echo "  speed --targets --variant jobs: expected a usage error naming the rule"
    cat "$out"
    status=1
  fi
  # The paused jobs of a running loop: each request's job, its pauses, its stack and the
  # exported functions it waits in.
  step "asyncjobs paused" "$bin" paused --requests 4 --calls 3 --latency 100
  out=$LAST_LOG
  for want in "paused jobs of a loop serving 4 requests" "pauses, stack" "KiB used of 64 KiB (guard page)" \
    "EngineWaiting.pause" "SimulatedAccelerator.perform" "4 of 4 requests completed"; do
    grep -qF -- "$want" "$out" || { echo "  asyncjobs paused: no '$want'"; cat "$out"; status=1; break; }
  done
fi

step "metrics build" swift build --package-path Metrics --build-tests
if [ $status -eq 0 ]; then
  step "metrics tests" swift test --package-path Metrics --skip-build
  grep -E "✘|Test run with [0-9]+ tests" "$LAST_LOG"
  step "metrics example" swift run --package-path Metrics --skip-build asyncjobs-metrics-example
  for want in "asyncjobs_jobs_started_total{loop=\"signing\"} 32" "asyncjobs_loop_completed_total{loop=\"signing\"} 32" \
    "asyncjobs_pause_duration_count" "asyncjobs_jobs_paused{loop=\"signing\"} 0.0"; do
    grep -qF -- "$want" "$LAST_LOG" || { echo "  metrics example: no '$want'"; cat "$LAST_LOG"; status=1; break; }
  done
fi
exit $status
