#!/bin/bash
# val_batches larger than one pass over the validation split means the whole split once (the
# fine-tuning configs say val_batches = 1000000 for "all of it"): before, validation ran that many
# micro-batches, wrapping around the split, until the watchdog ended the job. Checks that such a run
# validates at once, says "(the whole split once)", and equals a run that asks for exactly one pass.
source "$(dirname "$0")/common.sh"
phantom_data phantom64 64 11
W=$(mktemp -d /tmp/m3ae-valsplit-XXXXXX); trap 'rm -rf "$W"' EXIT
run() { # NAME VAL_BATCHES
  timeout -s KILL 120 "$M3AE" pretrain --config "$TINY_CFG" --data "$CACHE/phantom64" --val-data "$CACHE/phantom64" --out "$W/$1" \
    vocab="$VOCAB" max_steps=1 warmup_steps=0 val_every=1 val_batches="$2" ckpt_every=0 >"$W/$1.log" 2>&1
}
run all 1000000; rc=$?
check '[ $rc -eq 0 ]' "val_batches = 1000000: exit $rc (137: killed after 120 s, it validated past one pass): $(tail -3 "$W/all.log")"
line=$(grep -m1 "^  validation " "$W/all.log")
check 'grep -q "(the whole split once)" <<<"$line"' "the start-up line does not say one pass: $line"
n=$(sed -n 's/^  validation .*: \([0-9]*\) batches every.*/\1/p' <<<"$line")
check '[ -n "$n" ] && [ "$n" -ge 1 ] && [ "$n" -lt 1000000 ]' "no pass length in: $line"
if [ -n "$n" ]; then
  run one "$n" || { echo "FAIL: the run with val_batches = $n: $(tail -3 "$W/one.log")"; exit 1; }
  a=$(grep '"val"' "$W/all/metrics.jsonl"); b=$(grep '"val"' "$W/one/metrics.jsonl")
  check '[ -n "$a" ] && [ "$a" = "$b" ]' "one pass ($n batches) and val_batches = 1000000 differ: $a vs $b"
fi
exit $fail
