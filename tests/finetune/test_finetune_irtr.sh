#!/bin/bash
# Retrieval fine-tuning end to end on real data (issue 12): the MedPix-2.0 test split as training
# data and its dev split for validation (m3ae prep --format jsonl, 32 px), a tiny pretraining
# checkpoint made here, then `m3ae finetune --task irtr` (4 candidates a image, clip_resizedcrop,
# dropout on):
#  - the irtr_head starts from the ITM match row: with learning_rate 0 the step-1 irtr_head equals
#    itm_head.fc.weight[1] / bias[1] of the pretraining checkpoint bitwise;
#  - the itm_head is frozen: after 4 steps it equals the pretrained one bitwise and the optimizer
#    holds no moments for it (skipped: no update, no weight decay), while the irtr_head has them;
#  - validation: the candidate loss/accuracy lines and the recall line on irtr_val_images images;
#  - exact resume: 4 steps in one go and 2 + stop + 2 give bitwise-identical weights and moments
#    (the negatives are drawn from seed, epoch and sample);
#  - `m3ae evaluate --task irtr --json` of the fine-tuned checkpoint: not zero-shot, n_images 196.
source "$(dirname "$0")/../pretrain/common.sh"
PY=/usr/bin/python3
for s in test dev; do
  [ -f "$DATA/medpix2/$s.jsonl" ] || { echo "SKIPPED: $DATA/medpix2/$s.jsonl missing"; [ -n "${CI:-}" ] && exit 1; exit 77; }
done
$PY -c "import h5py, numpy" 2>/dev/null || { echo "SKIPPED: /usr/bin/python3 lacks h5py or numpy"; [ -n "${CI:-}" ] && exit 1; exit 77; }
W=$(mktemp -d /tmp/m3ae-ftirtr-XXXXXX); trap 'rm -rf "$W"' EXIT
for s in test dev; do
  "$M3AE" prep --format jsonl --input "$DATA/medpix2/$s.jsonl" --out "$W/$s" --store-size 32 --min-words 1 --threads 1 \
    --quiet >>"$W/prep.log" 2>&1 || { echo "FAIL: prep $s: $(cat "$W/prep.log")"; exit 1; }
done
phantom_data phantom64 64 11
pretrain "$W/pre" max_steps=2 ckpt_every=2 >"$W/pre.log" 2>&1 || { echo "FAIL: pretrain: $(tail -5 "$W/pre.log")"; exit 1; }
PRE=$W/pre/checkpoints/step_0000002.h5
ft() { # RUN_DIR [key=value ...]
  local run=$1; shift
  "$M3AE" finetune --task irtr --config "$TINY_CFG" --init-from "$PRE" --data "$W/test" --val-data "$W/dev" \
    --out "$run" vocab="$VOCAB" random_crop=1 max_steps=4 warmup_steps=1 ckpt_every=2 val_every=2 val_batches=2 \
    per_gpu_batchsize=4 batch_size=8 irtr_candidates=4 irtr_val_images=16 "$@"
}
ft "$W/a" >"$W/a.log" 2>&1 || { echo "FAIL: finetune a: $(tail -20 "$W/a.log")"; exit 1; }
check 'grep -q "irtr_head initialised from the ITM head.s match row" "$W/a.log"' "no irtr_head start line"
check 'grep -q "2 tensor(s) fresh (irtr_head.weight, irtr_head.bias)" "$W/a.log"' "the irtr_head was not fresh: $(grep fresh "$W/a.log")"
check 'grep -q "validation at step 4: irtr_acc" "$W/a.log"' "no validation line at step 4"
check 'grep -q "validation recall at step 4 (16 images x [0-9]* texts" "$W/a.log"' "no validation recall at step 4: $(grep -i recall "$W/a.log")"
check '! grep -qiw "nan\|inf" "$W/a/metrics.jsonl"' "non-finite metrics"
check '[ "$(grep -c "\"irtr_loss\"" "$W/a/metrics.jsonl")" -ge 4 ]' "metrics.jsonl lacks irtr_loss lines"
ft "$W/z" learning_rate=0 max_steps=1 val_every=0 >"$W/z.log" 2>&1 || { echo "FAIL: finetune z: $(tail -5 "$W/z.log")"; exit 1; }
$PY - "$PRE" "$W/z/checkpoints/step_0000001.h5" "$W/a/checkpoints/step_0000004.h5" <<'PY' || fail=1
import sys, h5py, numpy as np
pre, z, a = (h5py.File(p, "r") for p in sys.argv[1:])
bad = []
W, B = pre["model/itm_head.fc.weight"][()], pre["model/itm_head.fc.bias"][()]
if not (np.array_equal(z["model/irtr_head.weight"][()], W[1:2]) and np.array_equal(z["model/irtr_head.bias"][()], B[1:2])):
    bad.append("the step-1 irtr_head (learning_rate 0) is not the pretrained ITM match row")
for k in ("weight", "bias"):
    if not np.array_equal(a[f"model/itm_head.fc.{k}"][()], pre[f"model/itm_head.fc.{k}"][()]):
        bad.append(f"itm_head.fc.{k} changed in fine-tuning (must be frozen)")
    for mom in ("exp_avg", "exp_avg_sq"):
        if f"itm_head.fc.{k}" in a[f"optimizer/{mom}"]: bad.append(f"the optimizer holds {mom} for the frozen itm_head.fc.{k}")
        if f"irtr_head.{k}" not in a[f"optimizer/{mom}"]: bad.append(f"the optimizer holds no {mom} for irtr_head.{k}")
if np.array_equal(a["model/irtr_head.weight"][()], W[1:2]): bad.append("the irtr_head did not train")
for b in bad: print("FAIL:", b)
print("irtr_head start = ITM match row; itm_head frozen (unchanged, no moments)" if not bad else "")
sys.exit(1 if bad else 0)
PY
ft "$W/b" stop_after=2 >"$W/b1.log" 2>&1 || { echo "FAIL: finetune b part 1: $(tail -20 "$W/b1.log")"; exit 1; }
check '[ ! -e "$W/b/checkpoints/step_0000004.h5" ]' "run b went past its stop"
ft "$W/b" >"$W/b2.log" 2>&1 || { echo "FAIL: finetune b part 2: $(tail -20 "$W/b2.log")"; exit 1; }
check 'grep -q "resuming .* step 2" "$W/b2.log"' "run b did not resume from step 2"
A=$W/a/checkpoints/step_0000004.h5 B=$W/b/checkpoints/step_0000004.h5
for g in /model /optimizer/exp_avg /optimizer/exp_avg_sq; do
  out=$(h5diff "$A" "$B" "$g" "$g" 2>&1); rc=$?
  check '[ $rc -eq 0 ]' "resumed fine-tuning differs from the straight run in $g: $(head -5 <<<"$out")"
done
ASAN_OPTIONS=detect_leaks=1 "$M3AE" evaluate --task irtr --checkpoint "$A" --data "$W/dev" --json "$W/e.json" \
  vocab="$VOCAB" per_gpu_batchsize=32 >"$W/e.log" 2>&1 || { echo "FAIL: evaluate: $(tail -5 "$W/e.log")"; exit 1; }
$PY - "$W/e.json" <<'PY' || fail=1
import json, sys
j = json.load(open(sys.argv[1]))
keys = ["i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10", "n_images", "n_texts", "n"]
bad = [f"JSON lacks {k}" for k in keys if k not in j]
if not bad:
    if (j["n_images"], j["n"], j["zero_shot"]) != (196, 196, False): bad.append(f"n_images/n/zero_shot: {j}")
    if not all(0 <= j[k] <= 1 for k in keys[:6]): bad.append(f"recall out of range: {j}")
for b in bad: print("FAIL:", b)
sys.exit(1 if bad else 0)
PY
[ $fail -eq 0 ] && echo "PASS: retrieval fine-tuning (ITM-row start, frozen itm_head, validation recall, exact resume, evaluate)"
exit $fail
