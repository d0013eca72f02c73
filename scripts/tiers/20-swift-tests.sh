#!/usr/bin/env bash
# The Swift test suite, debug build (the default scratch path .build).
set -euo pipefail
swift build --build-tests 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]' || true
swift test --skip-build 2>&1 | tail -n 40
exit "${PIPESTATUS[0]}"
