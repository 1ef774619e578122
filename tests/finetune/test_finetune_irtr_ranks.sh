#!/bin/bash
# Retrieval fine-tuning data parallel: the same global batch (8 images, 4 candidates each) on 1 and 2
# ranks (micro-batches 8 and 4, dropout off) from the same tiny pretraining checkpoint gives the same
# losses step by step (the cross-entropy averages over the GLOBAL images: one image denominator
# summed over ranks; the negatives are drawn per sample, not per rank) and the same irtr_head after
# 4 steps, within float tolerance; a 2-rank run stopped at step 2 and resumed on 2 ranks ends
# bitwise identical to the straight 2-rank run.
source "$(dirname "$0")/../pretrain/common.sh"
PY=/usr/bin/python3
IN="$DATA/medpix2/test.jsonl"
[ -f "$IN" ] || { echo "SKIPPED: $IN missing"; [ -n "${CI:-}" ] && exit 1; exit 77; }
$PY -c "import h5py, numpy" 2>/dev/null || { echo "SKIPPED: /usr/bin/python3 lacks h5py or numpy"; [ -n "${CI:-}" ] && exit 1; exit 77; }
W=$(mktemp -d /tmp/m3ae-ftirtr-ranks-XXXXXX); trap 'rm -rf "$W"' EXIT
"$M3AE" prep --format jsonl --input "$IN" --out "$W/train" --store-size 32 --min-words 1 --threads 1 --quiet \
  >"$W/prep.log" 2>&1 || { echo "FAIL: prep: $(cat "$W/prep.log")"; exit 1; }
phantom_data phantom64 64 11
pretrain "$W/pre" max_steps=2 ckpt_every=2 >"$W/pre.log" 2>&1 || { echo "FAIL: pretrain: $(tail -5 "$W/pre.log")"; exit 1; }
run() { # NAME RANKS [key=value ...]
  local name=$1 n=$2; shift 2
  "${MPIRUN[@]}" -np $n "$M3AE" finetune --task irtr --config "$TINY_CFG" --init-from "$W/pre/checkpoints/step_0000002.h5" \
    --data "$W/train" --out "$W/$name" vocab="$VOCAB" drop_rate=0 max_steps=4 warmup_steps=1 ckpt_every=2 val_every=0 \
    batch_size=8 per_gpu_batchsize=$((8 / n)) irtr_candidates=4 "$@" >>"$W/$name.log" 2>&1 ||
    { echo "FAIL: $name ($n ranks)"; tail -20 "$W/$name.log"; exit 1; }
}
run r1 1
run r2 2
run s2 2 stop_after=2
run s2 2
check 'grep -q "resuming .* step 2" "$W/s2.log"' "run s2 did not resume from step 2"
for g in /model /optimizer/exp_avg /optimizer/exp_avg_sq; do
  out=$(h5diff "$W/r2/checkpoints/step_0000004.h5" "$W/s2/checkpoints/step_0000004.h5" "$g" "$g" 2>&1); rc=$?
  check '[ $rc -eq 0 ]' "2-rank resume differs from the straight 2-rank run in $g: $(head -5 <<<"$out")"
done
$PY - "$W" <<'PY' || fail=1
import json, sys
import h5py, numpy as np
w = sys.argv[1]
runs = {n: [json.loads(l) for l in open(f"{w}/r{n}/metrics.jsonl")] for n in (1, 2)}
assert len(runs[1]) == len(runs[2]) and len(runs[1]) >= 4, "different metrics lines"
worst = 0.0
for a, b in zip(runs[1], runs[2]):
    for k in ("loss", "irtr_loss"):
        if k in a:
            d = abs(a[k] - b[k]) / max(1e-6, abs(a[k]))
            worst = max(worst, d)
            assert d < 1e-3, f"step {a.get('step')}, {k}: {b[k]} (2 ranks) vs {a[k]} (1 rank)"
    if "irtr_acc" in a:
        assert a["irtr_acc"] == b["irtr_acc"], f"step {a.get('step')}, irtr_acc: {b['irtr_acc']} vs {a['irtr_acc']}"
r1 = h5py.File(f"{w}/r1/checkpoints/step_0000004.h5", "r")["model"]
r2 = h5py.File(f"{w}/r2/checkpoints/step_0000004.h5", "r")["model"]
# (not the irtr_head bias: its gradient is analytically zero, a shift of all K scores leaves the
# softmax unchanged, so it is rounding noise, which AdamW normalises into steps of about lr whose
# signs depend on the summation order, as in the official model)
for k in ("irtr_head.weight", "multi_modal_vision_pooler.dense.weight", "multi_modal_vision_proj.weight"):
    a, b = r1[k][()], r2[k][()]
    d = np.abs(a - b).max()
    assert d < 1e-6 + 1e-3 * np.abs(a).max(), f"{k} differs by {d:.2e} (max |value| {np.abs(a).max():.2e})"
print(f"1/2 ranks: worst relative loss difference {worst:.2e}")
PY
[ $fail -eq 0 ] && echo "PASS: retrieval fine-tuning on 1 and 2 ranks, 2-rank resume bitwise"
exit $fail
