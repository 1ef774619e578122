#!/bin/bash
# VQA fine-tuning data parallel: the same global batch (8) on 1 and 2 ranks (micro-batches 8 and 4,
# dropout off) from the same tiny pretraining checkpoint gives the same losses and validation
# accuracy step by step (the VQA loss averages over the GLOBAL batch: one sample denominator summed
# over ranks), and the same VQA head after 4 steps, within float tolerance.
source "$(dirname "$0")/../pretrain/common.sh"
PY=/usr/bin/python3
IN="$DATA/vqa_rad/trainset.json"
[ -f "$IN" ] || { echo "SKIPPED: $IN missing"; [ -n "${CI:-}" ] && exit 1; exit 77; }
W=$(mktemp -d /tmp/m3ae-finetune-ranks-XXXXXX); trap 'rm -rf "$W"' EXIT
$PY - "$IN" "$W/trainset.json" <<'PY'
import json, sys
qs = json.load(open(sys.argv[1], encoding="utf-8"))
imgs = []
for q in qs:
    if q["image_name"] not in imgs: imgs.append(q["image_name"])
keep = set(imgs[:16])
json.dump([q for q in qs if q["image_name"] in keep], open(sys.argv[2], "w"))
PY
P=(--images "$DATA/vqa_rad/images" --store-size 64 --threads 1 --quiet --holdout 0.25)
"$M3AE" prep --format vqa-rad --input "$W/trainset.json" --out "$W/train" "${P[@]}" >"$W/prep.log" 2>&1 &&
"$M3AE" prep --format vqa-rad --input "$W/trainset.json" --out "$W/held" "${P[@]}" --split heldout \
    --answer-vocab "$W/train" >>"$W/prep.log" 2>&1 || { echo "FAIL: prep: $(cat "$W/prep.log")"; exit 1; }
phantom_data phantom64 64 11
pretrain "$W/pre" max_steps=2 ckpt_every=2 >"$W/pre.log" 2>&1 || { echo "FAIL: pretrain: $(tail -5 "$W/pre.log")"; exit 1; }
for n in 1 2; do
  "${MPIRUN[@]}" -np $n "$M3AE" finetune --task vqa --config "$TINY_CFG" --init-from "$W/pre/checkpoints/step_0000002.h5" \
    --data "$W/train" --val-data "$W/held" --out "$W/r$n" vocab="$VOCAB" image_size=48 drop_rate=0 max_steps=4 \
    warmup_steps=1 ckpt_every=0 val_every=2 batch_size=8 per_gpu_batchsize=$((8 / n)) >"$W/r$n.log" 2>&1 ||
    { echo "FAIL: $n ranks"; tail -20 "$W/r$n.log"; exit 1; }
done
$PY "$(dirname "$0")/compare_ranks.py" "$W" vqa 4 || fail=1
[ $fail -eq 0 ] && echo "VQA fine-tuning rank test passed"
exit $fail
