#!/bin/bash
# tools/convert_checkpoint.py to-pt, by default, writes what loads with load_state_dict(strict=True)
# into the OFFICIAL module structure (tools/reference/m3ae_ref.py M3AE + add_official_extras: the
# CLIP ViT-B/16 text-tower leftovers and the RoBERTa position_ids buffer), keys in the official
# order, every m3ae tensor bit-identical, the leftovers fixed (zeros, identity LayerNorm) with their
# official shapes. Checked on the committed converter fixture and on a checkpoint the C trainer
# wrote; --bare likewise; --no-clip-leftovers --no-position-ids gives the reference's own key set;
# --leftovers-from carries the leftovers' values of another checkpoint through.
# About 20 s on a quiet machine (importing torch dominates); longer under load.
# Needs torch and h5py for python3 (tools/reference/requirements.txt): skipped without them.
set -u
src=${M3AE_SOURCE_DIR:?}
fixture=$src/tests/fixtures/converted_tiny.h5
py=python3
if ! $py -c "import importlib.util as u, sys; sys.exit(not all(u.find_spec(m) for m in ('torch', 'h5py', 'numpy')))"; then
  echo "SKIPPED: python3 lacks torch or h5py (pip install -r tools/reference/requirements.txt)"; exit 77
fi
source "$src/tests/pretrain/common.sh"
phantom_data phantom64 64 11
W=$(mktemp -d /tmp/m3ae-topt-XXXXXX); trap 'rm -rf "$W"' EXIT

# a checkpoint of the C trainer (tiny model with the RoBERTa vocabulary: no preset's sizes)
pretrain "$W/run" max_steps=1 warmup_steps=0 >"$W/run.log" 2>&1 ||
  { echo "FAIL: m3ae pretrain: $(tail -3 "$W/run.log")"; exit 1; }
trained=$W/run/checkpoints/step_0000001.h5

# one python process (importing torch takes long on a loaded machine): the converter's command line
# through its main(argv), then the checks
$py - "$src" "$W" "$fixture" "$trained" <<'PY'
import os, sys
import h5py, numpy as np, torch
src, W, fixture, trained = sys.argv[1:5]
sys.path.insert(0, os.path.join(src, "tools", "reference"))
sys.path.insert(0, os.path.join(src, "tools"))
import m3ae_ref as R
import convert_checkpoint as C

def conv(*argv):
    try:
        rc = C.main([str(a) for a in argv])
    except SystemExit as e:  # argparse refused the arguments
        rc = e.code
    if rc != 0:
        sys.exit(f"FAIL: convert_checkpoint.py {' '.join(argv)}: exit code {rc}")

fails = []
def check(cond, what):
    print(("  ok    " if cond else "  FAIL  ") + what)
    if not cond:
        fails.append(what)

LEFT = ("vision_encoder.positional_embedding", "vision_encoder.token_embedding.weight",
        "vision_encoder.ln_final.weight", "vision_encoder.ln_final.bias")
t = R.CLIP_TEXT_TOWER
OFFICIAL_SHAPES = {LEFT[0]: (t["context_length"], t["width"]), LEFT[1]: (t["vocab_size"], t["width"]),
                   LEFT[2]: (t["width"],), LEFT[3]: (t["width"],)}
assert OFFICIAL_SHAPES[LEFT[1]] == (49408, 512) and OFFICIAL_SHAPES[LEFT[0]] == (77, 512)  # spec section 5

def model_of(h5):
    with h5py.File(h5, "r") as f:
        text = f.attrs["config"]
        text = text.decode() if isinstance(text, bytes) else text
        tensors = {k: f["model"][k][...] for k in f["model"]}
    cfg, preset = C.parse_config_text(text)
    for k in R.CONFIG_KEYS:
        cfg.setdefault(k, C.PRESETS[preset][k] if preset in C.PRESETS else None)
    return {k: cfg[k] for k in R.CONFIG_KEYS}, tensors

def strict(model, sd, what):
    try:
        model.load_state_dict(sd, strict=True)
        check(True, f"{what}: load_state_dict(strict=True)")
        return True
    except RuntimeError as e:
        check(False, f"{what}: load_state_dict(strict=True): {str(e)[:400]}")
        return False

for name, h5 in (("fixture", fixture), ("trained", trained)):
    conv("to-pt", h5, "--out", os.path.join(W, f"{name}.ckpt"))
    kinds = ("ckpt",)
    if name == "fixture":  # the bare state dict once (each export writes 101 MB of leftovers)
        conv("to-pt", h5, "--out", os.path.join(W, f"{name}.pt"), "--bare")
        kinds = ("ckpt", "pt")
    cfg, tensors = model_of(h5)
    for kind in kinds:
        obj = torch.load(os.path.join(W, f"{name}.{kind}"), map_location="cpu", weights_only=False)
        sd = obj["state_dict"] if kind == "ckpt" else obj
        official = R.add_official_extras(R.M3AE(cfg, drop=0.0))
        what = f"{name} .{kind} into the official structure"
        if not strict(official, sd, what):
            continue
        check(list(sd) == list(official.state_dict()), f"{what}: keys in the official order")
        check(all(np.array_equal(sd[k].numpy(), a) and sd[k].dtype == torch.float32 for k, a in tensors.items()),
              f"{what}: the {len(tensors)} m3ae tensors bit-identical")
        check(all(tuple(sd[k].shape) == OFFICIAL_SHAPES[k] for k in LEFT),
              f"{what}: leftovers with the official shapes {[tuple(sd[k].shape) for k in LEFT]}")
        check(not sd[LEFT[0]].any() and not sd[LEFT[1]].any() and bool((sd[LEFT[2]] == 1).all())
              and not sd[LEFT[3]].any(), f"{what}: leftovers fixed (zero tables, identity LayerNorm)")
        pid = sd.get("language_encoder.embeddings.position_ids")
        check(pid is not None and pid.dtype == torch.int64 and
              torch.equal(pid, torch.arange(cfg["max_position_embeddings"])[None]),
              f"{what}: position_ids = arange({cfg['max_position_embeddings']}) (int64)")
for name, h5 in (("fixture", fixture), ("trained", trained)):
    cfg, _ = model_of(h5)
    ours = os.path.join(W, f"{name}-ours.pt")
    conv("to-pt", h5, "--out", ours, "--bare", "--no-clip-leftovers", "--no-position-ids")
    strict(R.M3AE(cfg, drop=0.0), torch.load(ours, map_location="cpu", weights_only=False),
           f"{name} --no-clip-leftovers --no-position-ids into the reference")
# leftovers carried through: the fixture's export with random leftovers is the source
obj = torch.load(os.path.join(W, "fixture.ckpt"), map_location="cpu", weights_only=False)
g = torch.Generator().manual_seed(7)
for k in LEFT:
    obj["state_dict"][k] = torch.randn(obj["state_dict"][k].shape, generator=g)
torch.save(obj, os.path.join(W, "random.ckpt"))
conv("to-pt", fixture, "--out", os.path.join(W, "carried.ckpt"), "--leftovers-from", os.path.join(W, "random.ckpt"))
src_sd = obj["state_dict"]
got = torch.load(os.path.join(W, "carried.ckpt"), map_location="cpu", weights_only=False)["state_dict"]
check(all(torch.equal(got[k], src_sd[k]) for k in LEFT), "--leftovers-from carries the four tensors bit-identically")
print("to-pt strict-load test " + ("FAILED: " + "; ".join(fails) if fails else "passed"))
sys.exit(1 if fails else 0)
PY
