#!/bin/bash
# Resume refuses (exit 4) a different seed, global batch, model key or dataset, naming each
# difference, unless --allow-config-change is given (then it says what changed and continues). Keys
# that keep the data order (max_steps, log_every, keep_last, learning_rate, ...) change freely and
# are listed; so does the world size at the same global batch (test_ranks.sh covers the numbers).
source "$(dirname "$0")/common.sh"
phantom_data phantom64 64 11
phantom_data phantom64b 64 12
W=$(mktemp -d /tmp/m3ae-resumecfg-XXXXXX); trap 'rm -rf "$W"' EXIT
pretrain "$W/run" max_steps=6 stop_after=2 >"$W/a.log" 2>&1 || { echo "FAIL: run"; tail -5 "$W/a.log"; exit 1; }
refuse() { # refuse PATTERN ARGS...: exit 4, the message matches, nothing written
  local pat=$1; shift
  local out rc; out=$("$@" 2>&1); rc=$?
  check '[ $rc -eq 4 ] && grep -Eq "$pat" <<<"$out" && [ ! -e "$W/run/checkpoints/step_0000003.h5" ]' \
    "expected a refusal /$pat/ (exit 4), got exit $rc: $(grep -e error -e resum <<<"$out" | head -3)"
}
refuse "seed: 3 -> 4" pretrain "$W/run" max_steps=6 seed=4
refuse "batch_size: 8 -> 16.*drop_rate: 0.1 -> 0.2|drop_rate: 0.1 -> 0.2.*batch_size: 8 -> 16" \
  pretrain "$W/run" max_steps=6 batch_size=16 drop_rate=0.2
refuse "dataset: .*phantom64: 64 samples.* -> .*phantom64b: 64 samples" \
  "$M3AE" pretrain --config "$TINY_CFG" --data "$CACHE/phantom64b" --out "$W/run" vocab="$VOCAB" max_steps=6
out=$(pretrain "$W/run" max_steps=6 seed=4 stop_after=3 --allow-config-change 2>&1); rc=$?
check '[ $rc -eq 0 ] && grep -q "allow-config-change.*seed: 3 -> 4" <<<"$out" && grep -q "resuming .* step 2" <<<"$out"' \
  "--allow-config-change: exit $rc: $(grep -e error -e resum -e change <<<"$out" | head -3)"
out=$(pretrain "$W/run" max_steps=8 seed=4 log_every=2 keep_last=1 learning_rate=5e-4 2>&1); rc=$?
check '[ $rc -eq 0 ] && grep -q "max_steps: 6 -> 8" <<<"$out" && grep -q "learning_rate: 0.001 -> 0.0005" <<<"$out"' \
  "free keys: exit $rc: $(grep -e error -e resum -e change <<<"$out" | head -3)"
[ $fail -eq 0 ] && echo "resume configuration test passed"
exit $fail
