#!/bin/bash
# One flipped byte anywhere in a shard's data.mdb gives a named error (exit 3), never a crash:
# `m3ae prep inspect` on copies of a small dataset flipped at a bounded, fixed set of offsets.
#   test_shard_corrupt.sh [COUNT]
set -u
M3AE=${M3AE_BIN:?}
SRC=${M3AE_SOURCE_DIR:?}
count=${1:-240}
W=$(mktemp -d /tmp/m3ae-corrupt-XXXXXX); trap 'rm -rf "$W"' EXIT
"$M3AE" phantom --out "$W/src" --count 24 --seed 3 --size 40 >/dev/null || { echo "FAIL: phantom"; exit 1; }
"$M3AE" prep --format jsonl --input "$W/src/captions.jsonl" --out "$W/ds" --store-size 32 --shards 1 >/dev/null 2>&1 ||
  { echo "FAIL: prep"; exit 1; }
"$M3AE" prep inspect "$W/ds" >/dev/null || { echo "FAIL: the intact dataset does not verify"; exit 1; }
/usr/bin/python3 "$SRC/tests/io_shard/flip_bytes.py" "$M3AE" "$W/ds" "$W" "$count" || exit 1
echo "corrupt-shard test passed"
