#!/usr/bin/env bash
# Reproduces the switch round-trip numbers in docs/context-switch.md (a measurement, not a test):
# wall-clock medians (clock_gettime) of the three FP-control schemes and of the ucontext
# fallback, then callgrind instruction counts per round trip (difference of two run lengths, so
# start-up cancels out). gcc, not clang: valgrind 3.19 cannot read clang 21's debug info.
set -euo pipefail
cd "$(dirname "$0")/../.."
ctx=Sources/_CJobContext
out=.build-ctx/switch-bench
mkdir -p "$out"
run() { echo "+ $*"; "$@"; }
srcs=(Benchmarks/switch/switch_bench.c Benchmarks/switch/swap_variants.S "$ctx/job_context.c" "$ctx/job_context_task_locals.c"
      "$ctx/job_context_ucontext.c" "$ctx/jump_x86_64_sysv_elf.S")
run gcc -O2 -I"$ctx/include" -I"$ctx" "${srcs[@]}" -o "$out/bench"
run gcc -O2 -DAJCTX_USE_UCONTEXT -I"$ctx/include" -I"$ctx" "${srcs[@]}" -o "$out/bench_ucontext"
run "$out/bench" time 1000000
run "$out/bench_ucontext" time 200000
count() { # $1 binary, $2 variant, $3 round trips -> instructions
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" count "$2" "$3" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for variant in compare compare-differ always none; do
  a=$(count "$out/bench" "$variant" 100000); b=$(count "$out/bench" "$variant" 200000)
  echo "callgrind $variant: $(( (b - a) / 100000 )) instructions per round trip"
done
a=$(count "$out/bench_ucontext" compare 100000); b=$(count "$out/bench_ucontext" compare 200000)
echo "callgrind ucontext: $(( (b - a) / 100000 )) instructions per round trip (plus 2 rt_sigprocmask syscalls)"
