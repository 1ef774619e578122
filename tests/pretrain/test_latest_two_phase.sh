#!/bin/bash
# A checkpoint becomes `latest` only when every rank has reached it. With
# M3AE_TEST_FAIL_BEFORE_LATEST=RANK,STEP (launch/train/trainer.c, tests only) rank RANK dies between
# rank 0 writing the step file of STEP and `latest` pointing at it: rank 0 itself (the step file is
# whole, latest must not name it) or rank 1 (it never confirms the step). Either way the job fails,
# `latest` stays at the previous checkpoint, and the run resumes from there to the end.
source "$(dirname "$0")/common.sh"
phantom_data phantom64 64 11
W=$(mktemp -d /tmp/m3ae-twophase-XXXXXX); trap 'rm -rf "$W"' EXIT
for victim in 0 1; do
  run="$W/run$victim"
  M3AE_TEST_FAIL_BEFORE_LATEST=$victim,4 timeout 120 "${MPIRUN[@]}" -x M3AE_TEST_FAIL_BEFORE_LATEST -np 2 "$M3AE" pretrain \
    --config "$TINY_CFG" --data "$CACHE/phantom64" --out "$run" vocab="$VOCAB" max_steps=6 ckpt_every=2 keep_last=1 \
    per_gpu_batchsize=4 >"$W/fail$victim.log" 2>&1
  rc=$?
  check '[ $rc -ne 0 ] && [ $rc -ne 124 ]' "rank $victim failing before latest: exit code $rc (expected a failure, not success or a hang)"
  check 'grep -q "rank $victim dies between writing the checkpoint of step 4" "$W/fail$victim.log"' \
    "rank $victim did not take the test failure: $(tail -3 "$W/fail$victim.log")"
  check '[ "$(cat "$run/checkpoints/latest" 2>/dev/null)" = step_0000002.h5 ]' \
    "rank $victim failed before confirming step 4, yet latest is '$(cat "$run/checkpoints/latest" 2>/dev/null)' (expected step_0000002.h5)"
  check '[ -f "$run/checkpoints/step_0000002.h5" ]' "the previous checkpoint was pruned before latest moved (keep_last = 1)"
  "$M3AE" ckpt verify "$run/checkpoints/step_0000002.h5" >/dev/null 2>&1 || check false "step_0000002.h5 does not verify"
  timeout 120 "${MPIRUN[@]}" -np 2 "$M3AE" pretrain --config "$TINY_CFG" --data "$CACHE/phantom64" --out "$run" \
    vocab="$VOCAB" max_steps=6 ckpt_every=2 keep_last=1 per_gpu_batchsize=4 >"$W/resume$victim.log" 2>&1
  check '[ $? -eq 0 ] && grep -q "resuming .* step 2," "$W/resume$victim.log"' \
    "after rank $victim failed, the run does not resume from step 2: $(grep -E "resum|error" "$W/resume$victim.log" | head -3)"
  check '[ "$(cat "$run/checkpoints/latest")" = step_0000006.h5 ]' "the resumed run did not finish at step 6"
done
[ $fail -eq 0 ] && echo "two-phase latest test passed"
exit $fail
