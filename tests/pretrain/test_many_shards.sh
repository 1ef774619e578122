#!/bin/bash
# Datasets with more shards than file descriptors: 1,100 one-record shards train under `ulimit -n
# 256` (the loader keeps a bounded, logged set of shards open, least recently used closed first) and
# under a soft limit of 256 that it raises towards the hard limit (logged); both runs give the same
# losses bit for bit (one process: the same order and content whichever shards are open). `m3ae prep
# inspect` verifies the dataset under the same limit.
source "$(dirname "$0")/common.sh"
NAME=phantom1100
(
  flock 9
  if [ ! -f "$CACHE/$NAME/manifest.json" ]; then
    rm -rf "$CACHE/$NAME" "$CACHE/$NAME.src"
    "$M3AE" phantom --out "$CACHE/$NAME.src" --count 1100 --seed 5 --size 48 >/dev/null 2>&1 &&
    "$M3AE" prep --format jsonl --input "$CACHE/$NAME.src/captions.jsonl" --out "$CACHE/$NAME" \
      --store-size 32 --shards 1100 >/dev/null 2>&1
  fi
) 9>"$CACHE/.lock-$NAME"
[ -f "$CACHE/$NAME/manifest.json" ] || { echo "FAIL: could not build the 1,100-shard dataset"; exit 1; }
check '[ "$(ls -d "$CACHE/$NAME"/shard-* | wc -l)" -eq 1100 ]' "the dataset does not have 1,100 shards"
W=$(mktemp -d /tmp/m3ae-shards-XXXXXX); trap 'rm -rf "$W"' EXIT
train() { # RUN_DIR ULIMIT_FLAGS
  ( ulimit $2 256 && exec "$M3AE" pretrain --config "$TINY_CFG" --data "$CACHE/$NAME" --out "$1" vocab="$VOCAB" \
      max_steps=3 ckpt_every=0 loader_threads=2 ) >"$1.log" 2>&1 ||
    { echo "FAIL: training on 1,100 shards under ulimit $2 256"; tail -5 "$1.log"; fail=1; }
}
train "$W/bounded" -n
check 'grep -q "at most [0-9]* are kept open at once" "$W/bounded.log"' "the bounded shard cache was not logged"
check '[ -f "$W/bounded/finished" ]' "the run under ulimit -n 256 did not finish"
if [ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -gt 256 ]; then
  train "$W/raised" -Sn
  check 'grep -q "raised the open-file limit (ulimit -n) from 256 to" "$W/raised.log"' "raising the soft limit was not logged"
  check '[ -f "$W/raised/finished" ]' "the run under a soft limit of 256 did not finish"
  loss() { /usr/bin/python3 -c 'import json,sys; print([json.loads(l)["loss"] for l in open(sys.argv[1]) if "\"train\"" in l])' "$1"; }
  check '[ "$(loss "$W/bounded/metrics.jsonl")" = "$(loss "$W/raised/metrics.jsonl")" ]' \
    "losses differ between the bounded cache and all shards open: $(loss "$W/bounded/metrics.jsonl") vs $(loss "$W/raised/metrics.jsonl")"
fi
( ulimit -n 256 && exec "$M3AE" prep inspect "$CACHE/$NAME" ) >"$W/inspect.log" 2>&1 ||
  { echo "FAIL: prep inspect under ulimit -n 256"; tail -3 "$W/inspect.log"; fail=1; }
check 'grep -q "all 1100 shards verified" "$W/inspect.log"' "prep inspect did not verify all shards"
[ $fail -eq 0 ] && echo "many-shards test passed"
exit $fail
