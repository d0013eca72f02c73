#!/usr/bin/env bash
# The Swift switch-level and behaviour suites again, against the ucontext fallback
# (ASYNCJOBS_UCONTEXT=1 defines AJCTX_USE_UCONTEXT for _CJobContext). Kept cheap, it is one more
# full build in CI: debug, its own scratch path (the flag changes the manifest, so sharing .build
# would rebuild everything twice), and only the test product, not the CLI or the C library.
set -euo pipefail
cd "$(dirname "$0")/../.."

export ASYNCJOBS_UCONTEXT=1 # read by Package.swift at build time and by JobContextTests at run time
scratch=.build-ucontext
run() { echo "+ $*"; "$@"; }

# The one product that holds every test target (SwiftPM names it <package>PackageTests).
product="$(sed -n 's/^ *name: "\([^"]*\)",$/\1/p' Package.swift | head -n 1)PackageTests"
mkdir -p "$scratch"
log="$scratch/build.log"
echo "+ swift build --scratch-path $scratch --product $product"
if ! swift build --scratch-path "$scratch" --product "$product" >"$log" 2>&1; then
  grep -Ev '^\[[0-9]+/[0-9]+\] ' "$log"
  echo "FAIL: ucontext build"
  exit 1
fi
grep -E 'warning:|Build of product' "$log" || true

suites=(JobContextTests)
# AsyncJobsTests is run when it exists (it has tests, not only a placeholder).
if compgen -G 'Tests/AsyncJobsTests/*.swift' >/dev/null && grep -rqs '@Test' Tests/AsyncJobsTests; then
  suites+=(AsyncJobsTests)
fi
for suite in "${suites[@]}"; do
  run swift test --skip-build --scratch-path "$scratch" --filter "$suite"
done
