#!/bin/bash
# Our HDF5 files read with h5py (Debian's python3-h5py) and h5dump: names, shapes, values, attributes.
set -u
writer=$1
py=/usr/bin/python3
if ! $py -c "import h5py, numpy" 2>/dev/null; then
  [ -n "${CI:-}" ] && { echo "FAIL: Debian python3-h5py missing (tools/setup.sh --test)"; exit 1; }
  echo "SKIPPED: python3-h5py not installed"; exit 77
fi
d=$(mktemp -d /tmp/m3ae-h5py-XXXXXX); trap 'rm -rf "$d"' EXIT
"$writer" "$d/x.h5" || { echo "FAIL: writer"; exit 1; }
$py - "$d/x.h5" <<'PY' || exit 1
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
names = sorted(f["model"].keys())
assert names == ["mim_head.decoder_pred.bias", "vision_encoder.visual.conv1.weight"], names
w = f["model/vision_encoder.visual.conv1.weight"]
assert w.shape == (1024, 1024) and w.dtype == np.float32 and w.fletcher32, (w.shape, w.dtype)
i = np.arange(1 << 20).reshape(1024, 1024)
assert np.array_equal(w[...], ((i % 9973) * 0.5).astype(np.float32))
b = f["optimizer/exp_avg/mim_head.decoder_pred.bias"]
assert b.dtype == np.uint16 and b.attrs["dtype"] == b"bfloat16", (b.dtype, b.attrs["dtype"])
assert f.attrs["step"] == 1000 and "image_size = 288" in f.attrs["config"]
print("h5py reads", len(names), "model tensors, attributes", sorted(f.attrs.keys()))
PY
h5dump -H "$d/x.h5" | grep -q 'DATASET "vision_encoder.visual.conv1.weight"' || { echo "FAIL: h5dump"; exit 1; }
echo "h5py/h5dump test passed"
