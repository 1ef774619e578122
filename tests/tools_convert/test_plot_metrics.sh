#!/bin/bash
# tools/plot_metrics.py with Debian's /usr/bin/python3 + python3-pil only (the Pillow renderer): a
# synthetic metrics.jsonl (train lines, validation lines, a missing field, a NaN, a broken line) gives
# RUN_DIR/curves.png of the requested size with the MLM (blue) and MIM (red) curves drawn; a run
# folder without metrics.jsonl is an error.
set -u
src=${M3AE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
py=/usr/bin/python3
if ! $py -c "import PIL, json" 2>/dev/null; then
  [ -n "${CI:-}" ] && { echo "FAIL: Debian python3-pil missing (tools/setup.sh --test)"; exit 1; }
  echo "SKIPPED: python3-pil not installed"; exit 77
fi
d=$(mktemp -d /tmp/m3ae-plot-XXXXXX); trap 'rm -rf "$d"' EXIT
$py - "$d/metrics.jsonl" <<'PY'
import json, math, sys
with open(sys.argv[1], "w") as f:
    for s in range(0, 400, 2):
        r = {"step": s, "loss": 4 + 8 * math.exp(-s / 80), "mlm_loss": 2 + 8 * math.exp(-s / 80),
             "mim_loss": 1.0, "itm_loss": 0.69, "mlm_acc": 0.5 * (1 - math.exp(-s / 80)), "itm_acc": 0.6,
             "lr": 1e-5, "samples_per_s": 100}
        if s == 100: r["mim_loss"] = float("nan")
        if s == 102: del r["itm_acc"]
        f.write(json.dumps(r) + "\n")
        if s % 100 == 0:
            f.write(json.dumps({"step": s, "split": "val", "val_mlm_acc": 0.4, "val_itm_acc": 0.55, "val_mim_loss": 1.1}) + "\n")
    f.write("{not json\n")
PY
$py "$src/tools/plot_metrics.py" "$d" --backend pil --width 900 --height 700 || { echo "FAIL: plot_metrics.py"; exit 1; }
$py - "$d/curves.png" <<'PY' || { echo "FAIL: curves.png"; exit 1; }
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
assert im.size == (900, 700), im.size
px = list(im.getdata())
def count(c):
    return sum(1 for p in px if sum(abs(a - b) for a, b in zip(p, c)) < 40)
blue, red = count((31, 119, 180)), count((214, 39, 40))
assert blue > 300 and red > 300, (blue, red)
white = sum(1 for p in px if p == (255, 255, 255))
assert white > 0.5 * len(px), white
print("curves.png", im.size, "blue", blue, "red", red)
PY
mkdir "$d/empty"
if $py "$src/tools/plot_metrics.py" "$d/empty" 2>/dev/null; then echo "FAIL: no metrics.jsonl accepted"; exit 1; fi
echo "plot_metrics test passed"
