#!/bin/bash
# Resume at another world size continues the same data order: with the same global batch (8), a run
# of 20 steps on 2 ranks uninterrupted and one stopped and resumed 2 -> 4 -> 1 ranks (micro-batch 2,
# accumulation 2, 1, 4) give the same losses step by step (within 1e-5 relative: summation order
# differs across world sizes) and the same data state (epoch, position) in every checkpoint. The
# dataset holds 70 samples, so that an epoch rounded per rank (35 micro-batches at 1 rank, 17 at 2,
# 8 at 4) would differ between world sizes; the schedule crosses two epoch ends (8 steps each).
source "$(dirname "$0")/common.sh"
phantom_data phantom70 70 13
W=$(mktemp -d /tmp/m3ae-resize-XXXXXX); trap 'rm -rf "$W"' EXIT
run() { # RUN_DIR RANKS [key=value ...]
  local dir=$1 n=$2; shift 2
  "${MPIRUN[@]}" -np "$n" "$M3AE" pretrain --config "$TINY_CFG" --data "$CACHE/phantom70" --out "$dir" \
    vocab="$VOCAB" max_steps=20 ckpt_every=4 keep_last=0 log_every=1 per_gpu_batchsize=2 "${AR[@]}" "$@" >>"$dir.log" 2>&1 ||
    { echo "FAIL: $n ranks ($*)"; tail -20 "$dir.log"; exit 1; }
}
run "$W/full" 2
run "$W/resized" 2 stop_after=6
run "$W/resized" 4 stop_after=13
run "$W/resized" 1
check 'grep -q "continues at the same global position" "$W/resized.log"' "the resume at another world size says nothing"
check '! grep -q "no step boundary" "$W/resized.log"' "a step-boundary position was rounded: $(grep 'no step boundary' "$W/resized.log")"
/usr/bin/python3 - "$W" <<'PY' || fail=1
import glob, json, os, sys
import h5py
w = sys.argv[1]
def train(run):
    out = {}
    for line in open(f"{w}/{run}/metrics.jsonl"):
        m = json.loads(line)
        if m.get("split") == "train":
            out[m["step"]] = m  # a resumed run logs its first step again only if it reran it
    return out
full, resized = train("full"), train("resized")
assert sorted(full) == list(range(1, 21)), f"uninterrupted run logged steps {sorted(full)}"
assert sorted(resized) == sorted(full), f"resized run logged steps {sorted(resized)}"
worst, where = 0.0, ""
for s in sorted(full):
    a, b = full[s], resized[s]
    assert a["epoch"] == b["epoch"], f"step {s}: epoch {b['epoch']} (resized) vs {a['epoch']}"
    for k in ("loss", "mlm_loss", "mim_loss", "itm_loss"):
        d = abs(a[k] - b[k]) / max(1e-12, abs(a[k]))
        if d > worst:
            worst, where = d, f"step {s} {k}: {b[k]} vs {a[k]}"
        assert d < 1e-5, f"step {s}, {k}: {b[k]} (2 -> 4 -> 1 ranks) vs {a[k]} (2 ranks), relative {d:.2e}"
assert full[20]["epoch"] == 2, f"the schedule should cross two epoch ends; at step 20 epoch {full[20]['epoch']}"
print(f"losses: worst relative difference {worst:.2e} ({where})")
def states(run):
    st = {}
    for p in glob.glob(f"{w}/{run}/checkpoints/step_*.h5"):
        with h5py.File(p, "r") as f:
            st[int(f.attrs["step"])] = (int(f.attrs["epoch"]), int(f.attrs["position"]))
    return st
sf, sr = states("full"), states("resized")
common = sorted(set(sf) & set(sr))
assert len(common) >= 4 and 20 in common, f"checkpoints in common: {common}"
for s in common:
    assert sf[s] == sr[s], f"step {s}: data state (epoch, position) {sr[s]} (resized) vs {sf[s]} (uninterrupted)"
for s in sorted(sr):
    e, p = sr[s]
    assert p % 8 == 0 and e * 64 + p == s * 8, f"step {s}: state {sr[s]} is not step {s} of 8-step epochs of 64"
print("data states at steps", common, "agree")
PY
[ $fail -eq 0 ] && echo "world-resize test passed"
exit $fail
