#!/bin/bash
# Classification fine-tuning data parallel (MELINDA layout, synthetic phantom figures of
# make_melinda.py) from a tiny pretraining checkpoint:
#  - exact resume on 2 ranks: 6 steps in one go and 4 + stop + 2 give bitwise-identical weights and
#    AdamW moments (dropout on, clip_resizedcrop, validation on the way);
#  - the same global batch (8) on 1 and 2 ranks (micro-batches 8 and 4, dropout off) gives the same
#    losses and accuracies step by step (the cross-entropy averages over the GLOBAL batch: one sample
#    denominator summed over ranks) and the same cls head after 6 steps, within float tolerance.
source "$(dirname "$0")/../pretrain/common.sh"
source "$(dirname "$0")/melinda_data.sh"
PY=/usr/bin/python3
[ -x $PY ] || { echo "SKIPPED: no /usr/bin/python3"; exit 77; }
W=$(mktemp -d /tmp/m3ae-finetune-cls-ranks-XXXXXX); trap 'rm -rf "$W"' EXIT
melinda_data "$W" 22
phantom_data phantom64 64 11
pretrain "$W/pre" max_steps=2 ckpt_every=2 >"$W/pre.log" 2>&1 || { echo "FAIL: pretrain: $(tail -5 "$W/pre.log")"; exit 1; }
ft() { # RANKS RUN_DIR [key=value ...]
  local n=$1 run=$2; shift 2
  "${MPIRUN[@]}" -np "$n" "$M3AE" finetune --task cls --config "$TINY_CFG" --init-from "$W/pre/checkpoints/step_0000002.h5" \
    --data "$W/train" --val-data "$W/held" --out "$run" vocab="$VOCAB" image_size=48 random_crop=1 max_steps=6 \
    warmup_steps=1 learning_rate=3e-3 lr_mult_head=10 ckpt_every=2 val_every=3 val_batches=2 batch_size=8 \
    per_gpu_batchsize=$((8 / n)) "${AR[@]}" "$@"
}
ft 2 "$W/a" >"$W/a.log" 2>&1 || { echo "FAIL: 2 ranks straight: $(tail -20 "$W/a.log")"; exit 1; }
ft 2 "$W/b" stop_after=4 >"$W/b1.log" 2>&1 || { echo "FAIL: 2 ranks part 1: $(tail -20 "$W/b1.log")"; exit 1; }
check '[ ! -e "$W/b/checkpoints/step_0000006.h5" ]' "run b went past its stop"
ft 2 "$W/b" >"$W/b2.log" 2>&1 || { echo "FAIL: 2 ranks part 2: $(tail -20 "$W/b2.log")"; exit 1; }
check 'grep -q "resuming .* step 4" "$W/b2.log"' "run b did not resume from step 4: $(grep -i resum "$W/b2.log")"
A=$W/a/checkpoints/step_0000006.h5 B=$W/b/checkpoints/step_0000006.h5
for g in /model /optimizer/exp_avg /optimizer/exp_avg_sq; do
  out=$(h5diff "$A" "$B" "$g" "$g" 2>&1); rc=$?
  check '[ $rc -eq 0 ]' "resumed 2-rank fine-tuning differs from the straight run in $g: $(head -5 <<<"$out")"
done
for n in 1 2; do
  ft $n "$W/r$n" drop_rate=0 >"$W/r$n.log" 2>&1 || { echo "FAIL: $n rank(s), dropout off: $(tail -20 "$W/r$n.log")"; exit 1; }
done
$PY "$(dirname "$0")/compare_ranks.py" "$W" cls 6 || fail=1
[ $fail -eq 0 ] && echo "classification fine-tuning rank test passed"
exit $fail
