#!/usr/bin/env bash
# The switch layer in plain C (no Swift): Tests/ContextC/switch_test.c against
#   - the x86_64 assembly, natively (-O0 and -O2, and with -fcf-protection),
#   - the ucontext fallback (-DAJCTX_USE_UCONTEXT), natively, and the assembly under ASan,
#   - the aarch64 assembly and the aarch64 ucontext fallback, cross-built with Debian's
#     aarch64-linux-gnu-gcc and run under qemu-aarch64-static (also a BTI/PAC build),
# plus object checks: every .S emits .note.GNU-stack (no executable stacks) and the CET/BTI
# property notes when those are enabled. Needs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and
# qemu-user-static (scripts/apt-packages).
set -euo pipefail
cd "$(dirname "$0")/../.."

ctx=Sources/_CJobContext
sup=Tests/JobContextTestSupport
out=.build-ctx/context-c
mkdir -p "$out"
sources=(Tests/ContextC/switch_test.c "$ctx/job_context.c" "$ctx/job_context_task_locals.c" "$ctx/job_context_ucontext.c"
         "$ctx/jump_x86_64_sysv_elf.S" "$ctx/jump_arm64_aapcs_elf.S" "$sup/support.c" "$sup/probes.S")
includes=(-I"$ctx/include" -I"$ctx" -I"$sup/include")
warn=(-Wall -Wextra -Werror -g)
native_cc=${CC:-clang}
cross_cc=aarch64-linux-gnu-gcc
qemu=(qemu-aarch64-static -L /usr/aarch64-linux-gnu)

run() { echo "+ $*"; "$@"; }

# Build one variant and run it; $1 = name, $2 = runner prefix ("" for native), rest = compiler+flags.
variant() {
  local name=$1 runner=$2; shift 2
  echo "--- $name"
  run "$@" "${warn[@]}" "${includes[@]}" "${sources[@]}" -o "$out/switch_test_$name"
  if [ -n "$runner" ]; then run ${runner} "$out/switch_test_$name"; else run "$out/switch_test_$name"; fi
  # A program whose stack is executable means some object lacked .note.GNU-stack.
  if readelf -lW "$out/switch_test_$name" | grep -E 'GNU_STACK' | grep -q 'RWE'; then
    echo "FAIL: $name has an executable stack (GNU_STACK RWE)"; return 1
  fi
}

variant x86_64-O0 "" "$native_cc" -O0
variant x86_64-O2 "" "$native_cc" -O2
variant x86_64-cet "" "$native_cc" -O2 -fcf-protection=full
variant x86_64-ucontext "" "$native_cc" -O2 -DAJCTX_USE_UCONTEXT
# ASan with fake stacks on: the job-level hooks (start/finish_switch_fiber) must hold up, and a
# job's final exit must not write to its destroyed fake stack.
variant x86_64-asan "env ASAN_OPTIONS=detect_stack_use_after_return=1" "$native_cc" -O1 -fsanitize=address -fuse-ld=lld
variant arm64-O2 "${qemu[*]}" "$cross_cc" -O2
variant arm64-bti "${qemu[*]}" "$cross_cc" -O2 -mbranch-protection=standard
variant arm64-ucontext "${qemu[*]}" "$cross_cc" -O2 -DAJCTX_USE_UCONTEXT

echo "--- object notes"
# Each .S must carry .note.GNU-stack on every architecture, including where its body is empty.
for cc in "$native_cc" "$cross_cc"; do
  for s in "$ctx"/jump_*.S; do
    for def in "" -DAJCTX_USE_UCONTEXT; do
      obj="$out/note_$(basename "$s" .S)_$(basename "$cc")${def:+_uctx}.o"
      run "$cc" $def -I"$ctx" -c "$s" -o "$obj"
      readelf -SW "$obj" | grep -q '\.note\.GNU-stack' || { echo "FAIL: $obj lacks .note.GNU-stack"; exit 1; }
    done
  done
done
run "$native_cc" -fcf-protection=full -I"$ctx" -c "$ctx/jump_x86_64_sysv_elf.S" -o "$out/cet.o"
readelf -n "$out/cet.o" | grep -q 'x86 feature: IBT$' || { echo "FAIL: no IBT-only property note"; exit 1; }
run "$cross_cc" -mbranch-protection=standard -I"$ctx" -c "$ctx/jump_arm64_aapcs_elf.S" -o "$out/bti.o"
readelf -n "$out/bti.o" | grep -q 'AArch64 feature: BTI, PAC' || { echo "FAIL: no BTI/PAC property note"; exit 1; }
echo "context-c: all variants passed"
