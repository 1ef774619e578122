#!/bin/bash
# Divergence: a non-finite loss or gradient norm stops the run with exit 6 (M3AE_EXIT_DIVERGED), a
# message naming the step and the loss terms that went bad, no RUN_DIR/finished, and the last good
# checkpoint untouched (no checkpoint of the bad step, nothing pruned). The trigger: the tiny model at
# a learning rate of 1e7 on the heads and fusion layers goes to NaN at step 3.
source "$(dirname "$0")/common.sh"
phantom_data phantom64 64 11
W=$(mktemp -d /tmp/m3ae-diverge-XXXXXX); trap 'rm -rf "$W"' EXIT
C=$W/run/checkpoints
pretrain "$W/run" max_steps=6 ckpt_every=2 keep_last=1 learning_rate=10 lr_mult_head=1e6 \
  lr_mult_multi_modal=1e6 >"$W/run.log" 2>&1; rc=$?
check '[ $rc -eq 6 ]' "exit $rc, expected 6: $(tail -4 "$W/run.log")"
check 'grep -Eq "error: training diverged at step 3: .*(mlm|mim|itm)_loss = -?nan" "$W/run.log"' \
  "the message does not name the step and the loss term: $(grep -i -e diverg -e error "$W/run.log")"
check '[ ! -e "$W/run/finished" ]' "a diverged run wrote finished"
check '[ "$(cat "$C/latest")" = step_0000002.h5 ] && [ "$(ls "$C")" = "$(printf "latest\nstep_0000002.h5")" ]' \
  "the last good checkpoint was replaced or pruned: $(ls "$C") latest=$(cat "$C/latest")"
out=$("$M3AE" ckpt verify "$C/step_0000002.h5" 2>&1)
check '[ $? -eq 0 ]' "the last good checkpoint does not verify: $out"
[ $fail -eq 0 ] && echo "divergence test passed"
exit $fail
