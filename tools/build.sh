#!/bin/bash
# Configures and builds m3ae (Release; CUDA when nvcc is found) in build/, or in $BUILD_DIR.
# Extra arguments go to cmake, e.g. tools/build.sh -DM3AE_CUDA=OFF
set -uo pipefail
cd "$(dirname "$0")/.."
dir=${BUILD_DIR:-build}
mkdir -p "$dir"
if ! cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" "$@" >"$dir/configure.log" 2>&1; then
  cat "$dir/configure.log" >&2
  echo "build: configuring $dir failed (log above)" >&2
  exit 2
fi
echo "build: compiling in $dir ($(nproc) jobs)"
if ! cmake --build "$dir" -j"$(nproc)" >"$dir/build.log" 2>&1; then
  grep -E -B2 -A6 "error|Error" "$dir/build.log" | head -80 >&2
  echo "build: compiling failed (full log: $dir/build.log)" >&2
  exit 1
fi
grep -E "warning:" "$dir/build.log" | sort -u | head -40 >&2 || true
echo "build: ok ($dir/m3ae)"
