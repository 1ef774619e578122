#!/bin/bash
# Bad input gets a clear error with the documented exit code and leaves nothing half-written.
source "$(dirname "$0")/common.sh"
phantom_data phantom64 64 11
W=$(mktemp -d /tmp/m3ae-bad-XXXXXX); trap 'rm -rf "$W"' EXIT
expect() { # expect CODE PATTERN command...
  local code=$1 pat=$2; shift 2
  out=$("$@" 2>&1); rc=$?
  check '[ $rc -eq $code ] && grep -q -- "$pat" <<<"$out"' "'$*' gave exit $rc (want $code) and: $(tail -2 <<<"$out")"
}
expect 3 "manifest" "$M3AE" pretrain --config "$TINY_CFG" --data "$W/nothing" --out "$W/r1" vocab="$VOCAB"
expect 2 "did you mean 'learning_rate'" "$M3AE" pretrain --config "$TINY_CFG" --data "$CACHE/phantom64" --out "$W/r2" vocab="$VOCAB" learning_rat=1
expect 2 "out of range" "$M3AE" pretrain --config "$TINY_CFG" --data "$CACHE/phantom64" --out "$W/r3" vocab="$VOCAB" adam_beta2=2
expect 2 "batch_size" "$M3AE" pretrain --config "$TINY_CFG" --data "$CACHE/phantom64" --out "$W/r4" vocab="$VOCAB" batch_size=12
expect 3 "vocab" "$M3AE" pretrain --config "$TINY_CFG" --data "$CACHE/phantom64" --out "$W/r5" vocab="$W/novocab"
# a run folder with a checkpoint of another configuration
pretrain "$W/r6" max_steps=1 warmup_steps=0 >/dev/null 2>&1 || { echo "FAIL: the first run of r6"; fail=1; }
expect 4 "another shape" pretrain "$W/r6" max_steps=2 warmup_steps=0 hidden_size=48 num_heads=2
check '[ "$(cat "$W/r6/checkpoints/latest")" = "step_0000001.h5" ]' "the refused resume changed the run folder"
[ $fail -eq 0 ] && echo "bad-input test passed"
exit $fail
