#!/usr/bin/env bash
# Soak, from the release build of the nested package Tools/ (built by tier 80): a million jobs
# paused at once on one thread, every one protected (guard page or canary), with the memory per
# paused job; ten million pooled start/finish cycles and a million pause/resume cycles through a
# wait descriptor, with resident memory and open descriptors sampled at each tenth (they must
# stay flat). Prints the figures; fails if a check does not hold.
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --package-path Tools --build-tests 2>&1 | grep -E "error|warning:" || true
bin=$(swift build -c release --package-path Tools --show-bin-path)
"$bin/asyncjobs" soak --paused 1000000 --start-finish 10000000 --pause-resume 1000000
