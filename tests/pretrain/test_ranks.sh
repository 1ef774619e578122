#!/bin/bash
# Data parallelism: the same global batch (8) on 1, 2 and 4 ranks (micro-batches 8, 4, 2) gives the
# same losses step by step and the same weights after 4 steps, within float tolerance; only rank 0
# writes the run folder's files.
source "$(dirname "$0")/common.sh"
phantom_data phantom64 64 11
W=$(mktemp -d /tmp/m3ae-ranks-XXXXXX); trap 'rm -rf "$W"' EXIT
for n in 1 2 4; do
  "${MPIRUN[@]}" -np $n "$M3AE" pretrain --config "$TINY_CFG" --data "$CACHE/phantom64" --out "$W/r$n" \
    vocab="$VOCAB" max_steps=4 ckpt_every=0 per_gpu_batchsize=$((8 / n)) >"$W/r$n.log" 2>&1 ||
    { echo "FAIL: $n ranks"; tail -20 "$W/r$n.log"; exit 1; }
done
/usr/bin/python3 - "$W" <<'PY' || fail=1
import json, sys
w = sys.argv[1]
runs = {n: [json.loads(l) for l in open(f"{w}/r{n}/metrics.jsonl") if '"train"' in l] for n in (1, 2, 4)}
worst = 0.0
for n in (2, 4):
    assert [m["step"] for m in runs[n]] == [m["step"] for m in runs[1]], "different logged steps"
    for a, b in zip(runs[1], runs[n]):
        for k in ("loss", "mlm_loss", "mim_loss", "itm_loss"):
            d = abs(a[k] - b[k]) / max(1e-6, abs(a[k]))
            worst = max(worst, d)
            assert d < 1e-3, f"{n} ranks, step {a['step']}, {k}: {b[k]} vs {a[k]} (1 rank)"
print(f"1/2/4 ranks: worst relative loss difference {worst:.2e}")
PY
# Weights after 4 steps: every tensor within 0.1% of its largest value. The BERT-style key biases are
# left out: their gradient is analytically zero (softmax ignores a constant added to a query's
# scores), so what AdamW does with them is rounding noise, different for any summation order.
/usr/bin/python3 - "$W" <<'PY' || fail=1
import h5py, numpy as np, sys
w = sys.argv[1]
ref = h5py.File(f"{w}/r1/checkpoints/step_0000004.h5", "r")["model"]
for n in (2, 4):
    other = h5py.File(f"{w}/r{n}/checkpoints/step_0000004.h5", "r")["model"]
    assert sorted(other.keys()) == sorted(ref.keys())
    worst, name = 0.0, ""
    for k in ref.keys():
        if k.endswith("key.bias"):
            continue
        a, b = ref[k][...], other[k][...]
        d = float(np.max(np.abs(a - b)) / max(1e-12, float(np.max(np.abs(a)))))
        if d > worst:
            worst, name = d, k
    print(f"{n} ranks: worst weight difference {worst:.2e} ({name})")
    assert worst < 1e-3, f"{n} ranks: {name} differs by {worst:.2e}"
PY
for n in 2 4; do
  check '[ "$(ls "$W/r$n")" = "$(ls "$W/r1")" ]' "$n ranks wrote other files: $(ls "$W/r$n")"
done
[ $fail -eq 0 ] && echo "rank-equivalence test passed"
exit $fail
