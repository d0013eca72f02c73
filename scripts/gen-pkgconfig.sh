#!/usr/bin/env bash
# Writes asyncjobs.pc (pkg-config name "asyncjobs") for the C library into <bin-dir>/pkgconfig,
# pointing at this checkout's headers and at libAsyncJobsC.so in <bin-dir>.
# Usage: scripts/gen-pkgconfig.sh <bin-dir>   (bin-dir: swift build -c release --scratch-path
#        .build-release --show-bin-path). Then:
#   PKG_CONFIG_PATH=<bin-dir>/pkgconfig cc prog.c $(pkg-config --cflags --libs asyncjobs)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(cd "$1" && pwd)
version=$(awk '/#define SAJ_VERSION/ { v = $3; printf "%d.%d.%d", v / 10000, (v / 100) % 100, v % 100 }' \
  Sources/CAsyncJobsCompat/include/asyncjobs/saj_async.h)
mkdir -p "$bin/pkgconfig"
cat > "$bin/pkgconfig/asyncjobs.pc" <<PC
includedir=$(pwd)/Sources/CAsyncJobsCompat/include
libdir=$bin

Name: asyncjobs
Description: OpenSSL's ASYNC job API (async.h) on swift-async-jobs
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -lAsyncJobsC -Wl,-rpath,\${libdir}
PC
echo "$bin/pkgconfig/asyncjobs.pc"
