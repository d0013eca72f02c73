#!/usr/bin/env bash
# Builds the benchmarks so that they cannot rot, and times nothing: the Benchmarks package (the
# package-benchmark suite and the comparison program, release, in Benchmarks/.build), the C
# comparison loops against OpenSSL and against the project's C library, and the bare-switch floor.
# The first build of package-benchmark's dependencies takes about 2 minutes here; later ones are
# incremental. Running the benchmarks: scripts/bench (docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/bench --build-only
