#!/usr/bin/env bash
# The C library (libAsyncJobsC): builds it in release mode (scratch path .build-release, shared
# with the benchmarks), then compiles the C programs of Tests/Compat with the system cc:
#  - the first page's EXAMPLE, verbatim, must print exactly the page's output;
#  - each differential program (diff_*.c, asynctest_port.c, quirks.c) is built against the
#    system's libcrypto and against this library; the transcripts must be identical except for
#    the lines in <name>.expected-diff ("- " OpenSSL's line, "+ " ours; '#' comments);
#  - mixed_libcrypto.c links both libraries and must print mixed_libcrypto.expected;
#  - saj_extensions.c (what OpenSSL lacks: switch hooks; set_mem_functions where the system's
#    OpenSSL is older than 3.2) must print saj_extensions.expected;
#  - OpenSSL's own test/asynctest.c, unchanged but for its include line (rewritten here), from
#    each asynctest-*.c in Tests/Compat/openssl/ and in $ASYNCJOBS_OPENSSL_TESTS (a directory),
#    built against this library and libcrypto: each must exit 0 and print PASS;
#  - the library exports no OpenSSL name.
set -euo pipefail
cd "$(dirname "$0")/../.."

bin=$(swift build -c release --scratch-path .build-release --show-bin-path)
mkdir -p "$bin"
if ! swift build -c release --scratch-path .build-release --product AsyncJobsC > "$bin/../build-AsyncJobsC.log" 2>&1; then
  grep -Ev '^\[[0-9]+/[0-9]+\]|^(Compiling|Fetching|Fetched|Cloning|Computing|Computed|Creating|Resolving|Working copy)' \
    "$bin/../build-AsyncJobsC.log" | head -n 60
  echo "release build of AsyncJobsC failed"
  echo "C library: 0 passed, 1 failed"
  exit 1
fi
scripts/gen-pkgconfig.sh "$bin" >/dev/null
export PKG_CONFIG_PATH="$bin/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
ours_flags=$(pkg-config --cflags --libs asyncjobs)
out=.build-release/compat-tests
rm -rf "$out" && mkdir -p "$out"
cflags=(-std=c11 -O1 -g -Wall -Wextra -Werror)
passed=0 failed=0

pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }

# Comment-free expected differences.
expected_diff() { [ -f "$1" ] && grep -v '^#' "$1" | grep -v '^$' || true; }

# 1. No OpenSSL names exported: only SAJ_ (and the core's internal _ajctx_/csystem_) C symbols.
clash=$(nm -D --defined-only "$bin/libAsyncJobsC.so" | awk '{print $3}' | grep -E '^(ASYNC_|OSSL_|ERR_|OPENSSL_)' || true)
if [ -z "$clash" ]; then pass "exports no OpenSSL name"; else fail "exports OpenSSL names: $clash"; fi
missing=""
# The symbol list is read once: `nm | grep -q` under pipefail fails when grep stops reading early.
exports=$(nm -D --defined-only "$bin/libAsyncJobsC.so" | awk '{print $3}')
for fn in $(grep -oE '\bSAJ_[A-Za-z_0-9]+\(' Sources/CAsyncJobsCompat/include/asyncjobs/saj_async.h | tr -d '(' | sort -u); do
  grep -qx "$fn" <<< "$exports" || missing="$missing $fn"
done
if [ -z "$missing" ]; then pass "exports every function of saj_async.h"; else fail "missing exports:$missing"; fi

# 2. The first page's example, verbatim.
# shellcheck disable=SC2086
# (default C dialect: the page's program uses fd_set/select without <sys/select.h>, as
# <openssl/async.h>'s <stdlib.h> provides them under glibc's default feature macros.)
if cc -O1 Tests/Compat/first_design_example.c $ours_flags -o "$out/first_design_example" \
   && "$out/first_design_example" > "$out/first_design_example.txt" \
   && diff -u Tests/Compat/first_design_example.expected "$out/first_design_example.txt"; then
  pass "first page's EXAMPLE prints the page's output"
else
  fail "first page's EXAMPLE"
fi

# 3. Differential programs.
for src in Tests/Compat/diff_*.c Tests/Compat/asynctest_port.c Tests/Compat/quirks.c; do
  name=$(basename "$src" .c)
  ok=1
  # asynctest_port uses OpenSSL's library contexts: both of its builds link libcrypto.
  extra=()
  [ "$name" = asynctest_port ] && extra=(-lcrypto)
  cc "${cflags[@]}" -DUSE_OPENSSL "$src" -lcrypto -lpthread -o "$out/$name.openssl" || ok=0
  # shellcheck disable=SC2086
  cc "${cflags[@]}" "$src" $ours_flags "${extra[@]}" -lpthread -o "$out/$name.asyncjobs" || ok=0
  if [ $ok -eq 1 ]; then
    "$out/$name.openssl" > "$out/$name.openssl.txt" 2> "$out/$name.openssl.err" || { echo "  $name: exit $? against OpenSSL"; ok=0; }
    "$out/$name.asyncjobs" > "$out/$name.asyncjobs.txt" 2> "$out/$name.asyncjobs.err" || { echo "  $name: exit $? against this library"; ok=0; }
  fi
  if [ $ok -eq 1 ]; then
    diff --unchanged-line-format= --old-line-format='- %L' --new-line-format='+ %L' \
      "$out/$name.openssl.txt" "$out/$name.asyncjobs.txt" > "$out/$name.diff" || true
    if ! diff -u <(expected_diff "Tests/Compat/$name.expected-diff") "$out/$name.diff" > "$out/$name.unexpected"; then
      echo "  $name: transcripts differ other than expected (- expected, + actual):"
      sed 's/^/    /' "$out/$name.unexpected"
      ok=0
    fi
  fi
  lines=$(wc -l < "$out/$name.asyncjobs.txt" 2>/dev/null || echo 0)
  differ=$(grep -c . "$out/$name.diff" 2>/dev/null || true)
  if [ $ok -eq 1 ]; then pass "$name ($lines lines, ${differ:-0} expected differing)"; else fail "$name"; fi
done

# 4. Both libraries in one process.
# shellcheck disable=SC2086
if cc "${cflags[@]}" Tests/Compat/mixed_libcrypto.c $ours_flags -lcrypto -ldl -o "$out/mixed_libcrypto" \
   && "$out/mixed_libcrypto" > "$out/mixed_libcrypto.txt" \
   && diff -u Tests/Compat/mixed_libcrypto.expected "$out/mixed_libcrypto.txt"; then
  pass "libcrypto SHA-256 inside a paused job, both libraries in one process"
else
  fail "mixed_libcrypto"
fi

# 5. What OpenSSL 3.0 lacks.
# shellcheck disable=SC2086
if cc "${cflags[@]}" Tests/Compat/saj_extensions.c $ours_flags -lpthread -o "$out/saj_extensions" \
   && "$out/saj_extensions" > "$out/saj_extensions.txt" \
   && diff -u Tests/Compat/saj_extensions.expected "$out/saj_extensions.txt"; then
  pass "switch hooks and stack functions (saj_extensions)"
else
  fail "saj_extensions"
fi

# 6. OpenSSL's own test/asynctest.c (any version), only its include line changed.
shopt -s nullglob
upstream=(Tests/Compat/openssl/asynctest-*.c)
if [ -n "${ASYNCJOBS_OPENSSL_TESTS:-}" ]; then upstream+=("$ASYNCJOBS_OPENSSL_TESTS"/asynctest-*.c); fi
shopt -u nullglob
if [ ${#upstream[@]} -eq 0 ]; then
  echo "SKIP OpenSSL's test/asynctest.c: no asynctest-*.c in Tests/Compat/openssl/ or \$ASYNCJOBS_OPENSSL_TESTS"
fi
for src in "${upstream[@]}"; do
  name=$(basename "$src" .c)
  sed 's|#include <openssl/async.h>|#include <asyncjobs/async.h>|' "$src" > "$out/$name.c"
  # shellcheck disable=SC2086
  if cc -O1 -g "$out/$name.c" $ours_flags -lcrypto -o "$out/$name" \
     && "$out/$name" > "$out/$name.txt" 2>&1 && [ "$(tail -n 1 "$out/$name.txt")" = PASS ]; then
    pass "OpenSSL's test/asynctest.c ($name) against this library"
  else
    sed 's/^/    /' "$out/$name.txt" 2>/dev/null || true
    fail "OpenSSL's test/asynctest.c ($name)"
  fi
done

echo "C library: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
