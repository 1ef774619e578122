#!/bin/bash
# tests/fixtures/converted_tiny.h5 (written by tools/convert_checkpoint.py) read with Debian's h5py:
# /model lists exactly the official state_dict keys of model_tiny.h5 /params (no CLIP text leftovers,
# no position_ids buffer), float32, chunked <= 1 MiB with Fletcher32, values equal, and the root
# attributes of checkpoints/ckpt.h with their HDF5 types.
set -u
conv=$1 fixture=$2
py=/usr/bin/python3
if ! $py -c "import h5py, numpy" 2>/dev/null; then
  [ -n "${CI:-}" ] && { echo "FAIL: Debian python3-h5py missing (tools/setup.sh --test)"; exit 1; }
  echo "SKIPPED: python3-h5py not installed"; exit 77
fi
$py - "$conv" "$fixture" <<'PY' || { echo "FAIL"; exit 1; }
import sys, h5py, numpy as np
c, r = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names, want = sorted(c["model"].keys()), sorted(r["params"].keys())
assert names == want, (set(names) ^ set(want))
assert len(names) == 223, len(names)
for must in ["vision_encoder.visual.positional_embedding", "language_encoder.pooler.dense.weight",
             "mim_head.decoder_pos_embed", "multi_modal_vision_layers.1.crossattention.self.query.weight"]:
    assert must in names, must
for bad in ["vision_encoder.token_embedding.weight", "vision_encoder.positional_embedding",
            "vision_encoder.ln_final.weight", "language_encoder.embeddings.position_ids"]:
    assert bad not in names, bad
for k in names:
    d = c["model"][k]
    assert d.dtype == np.dtype("<f4") and d.fletcher32 and d.chunks is not None, k
    assert int(np.prod(d.chunks)) * 4 <= 1 << 20, (k, d.chunks)
    assert np.array_equal(d[...], r["params"][k][...]), k
assert "optimizer" not in c
a = c.attrs
for k in ["format", "config", "m3ae_version", "m3ae_commit"]:
    info = h5py.check_string_dtype(a.get_id(k).dtype)
    assert info is not None and info.encoding == "utf-8" and info.length is None, (k, info)
for k, v in [("format_version", 1), ("step", 1000), ("epoch", 2), ("position", 0), ("seed", 0),
             ("world_size", 1), ("has_optimizer", 0)]:
    assert a.get_id(k).dtype == np.dtype("<i8") and int(a[k]) == v, (k, a[k])
assert a["format"] == "m3ae-checkpoint" and a["m3ae_version"] == "converter"
cfg = dict(l.split("=", 1) for l in a["config"].splitlines())
cfg = {k.strip(): v.strip() for k, v in cfg.items()}
assert cfg["preset"] == "tiny" and cfg["image_size"] == "32" and cfg["mim_prob"] == "0.75", cfg
print("h5py: converted_tiny.h5 holds the", len(names), "official keys, values equal to model_tiny.h5")
PY
echo "converted checkpoint h5py test passed"
