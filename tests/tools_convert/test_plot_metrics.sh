#!/bin/bash
# tools/plot_metrics.py with Debian's /usr/bin/python3 + python3-matplotlib: a synthetic
# metrics.jsonl in the format of launch/metrics.c (train rows, val rows, a NaN, a missing field, a
# broken line) gives RUN_DIR/curves.png of 1200x800 pixels in which the MLM (blue), MIM (red) and
# ITM (green) curves and the throughput (orange) are drawn; a run folder without metrics.jsonl, or
# with no training row, is an error. Skipped (77) only where matplotlib is absent outside CI
# (tools/setup.sh --test installs it, and tools/test.sh runs that first).
set -u
src=${M3AE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
plot=${PLOT_METRICS:-$src/tools/plot_metrics.py}
py=/usr/bin/python3
if ! $py -c "import matplotlib, numpy" 2>/dev/null; then
  [ -n "${CI:-}" ] && { echo "FAIL: Debian python3-matplotlib missing (tools/setup.sh --test installs it)"; exit 1; }
  echo "SKIPPED: Debian python3-matplotlib is not installed (run tools/setup.sh --test)"; exit 77
fi
d=$(mktemp -d /tmp/m3ae-plot-XXXXXX); trap 'rm -rf "$d"' EXIT
$py - "$d/metrics.jsonl" <<'PY'
import json, math, sys
with open(sys.argv[1], "w") as f:
    for s in range(1, 401, 20):
        r = {"split": "train", "step": s, "epoch": s // 100, "loss": 4 + 8 * math.exp(-s / 80),
             "mlm_loss": 2 + 8 * math.exp(-s / 80), "mim_loss": 1.0 - s / 1000, "itm_loss": 0.69 - s / 2000,
             "mlm_acc": 0.5 * (1 - math.exp(-s / 80)), "itm_acc": 0.5 + s / 1000, "lr": 1e-3 * (1 - s / 400),
             "grad_norm": 2.0, "samples_per_s": 50 + s / 40, "mfu": 0.5, "eta_s": 400 - s}
        if s == 101: r["mim_loss"] = float("nan")
        if s == 121: del r["itm_acc"]
        f.write(json.dumps(r) + "\n")
        if s % 100 == 1:
            f.write(json.dumps({"split": "val", "step": s, "val_mlm_acc": 0.4, "val_itm_acc": 0.55,
                                "val_mim_loss": 1.1, "val_mlm_loss": 3.0, "val_itm_loss": 0.68}) + "\n")
    f.write("{not json\n")
PY
printf 'preset = small\nmax_steps = 400\nseed = 3\nlr_mult_head = 5\nlr_mult_multi_modal = 5\n' > "$d/config.cfg"
$py "$plot" "$d" || { echo "FAIL: plot_metrics.py exited non-zero"; exit 1; }
[ -s "$d/curves.png" ] || { echo "FAIL: plot_metrics.py wrote no $d/curves.png"; exit 1; }
$py - "$d/curves.png" <<'PY' || { echo "FAIL: curves.png does not show the curves"; exit 1; }
import sys
import matplotlib.image as mpimg
import numpy as np
im = mpimg.imread(sys.argv[1])[..., :3]  # floats 0..1
assert im.shape[:2] == (800, 1200), im.shape
def count(hexrgb):
    c = np.array([int(hexrgb[i:i + 2], 16) / 255 for i in (0, 2, 4)])
    return int((np.abs(im - c).sum(axis=2) < 0.12).sum())
n = {name: count(h) for name, h in
     [("blue", "1f77b4"), ("red", "d62728"), ("green", "2ca02c"), ("orange", "ff7f0e"), ("purple", "9467bd")]}
assert all(v > 300 for v in n.values()), n
white = int((im.min(axis=2) > 0.99).sum())
assert white > 0.5 * im.shape[0] * im.shape[1], white
print("curves.png", im.shape[1], "x", im.shape[0], n)
PY
mkdir "$d/empty"
if $py "$plot" "$d/empty" 2>/dev/null; then echo "FAIL: a folder without metrics.jsonl was accepted"; exit 1; fi
echo '{"split": "val", "step": 1, "val_itm_acc": 0.5}' > "$d/empty/metrics.jsonl"
if $py "$plot" "$d/empty" 2>/dev/null; then echo "FAIL: a metrics.jsonl without training rows was accepted"; exit 1; fi
[ -e "$d/empty/curves.png" ] && { echo "FAIL: curves.png written without training rows"; exit 1; }
echo "plot_metrics test passed"
