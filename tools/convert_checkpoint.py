#!/usr/bin/env python3
"""Convert M3AE checkpoints between PyTorch (the official PyTorch-Lightning `.ckpt`, or a bare state
dict `.pt`/`.bin`) and the m3ae HDF5 checkpoint format (checkpoints/ckpt.h, format_version 1).

Usage (needs `pip install torch h5py numpy`; run from anywhere):
    python3 tools/convert_checkpoint.py to-h5 m3ae.ckpt --out m3ae.h5 [--config-from auto|tiny|small|base]
                                        [--image-size S] [--step N] [--keep-heads] [--no-optimizer]
    python3 tools/convert_checkpoint.py to-pt m3ae.h5 --out m3ae.ckpt [--bare] [--leftovers-from FILE]
                                        [--no-clip-leftovers] [--no-position-ids]
    python3 tools/convert_checkpoint.py --self-test
    python3 tools/convert_checkpoint.py make-fixture    # writes tests/fixtures/converted_tiny.h5

to-h5
  * Reads `ckpt["state_dict"]` (Lightning) or the dict itself (bare). A `module.` prefix (DDP) is
    stripped. Keys our model does not have are dropped and listed: the CLIP text-tower leftovers
    (vision_encoder.token_embedding.weight, vision_encoder.positional_embedding,
    vision_encoder.ln_final.*), the RoBERTa buffers (embeddings.position_ids / token_type_ids),
    the fine-tuning heads (vqa_head, cls_head, irtr_head; kept with --keep-heads, which m3ae then
    loads only non-strictly) and anything unknown.
  * The model configuration is inferred from the tensor shapes (widths, layer counts, vocabulary,
    position table, image size = patch * sqrt(rows-1) of the CLIP positional embedding, fusion and
    MIM decoder sizes). Keys the shapes cannot give (attention heads, max_text_len, mim_layer,
    mim_prob, mlm_prob, drop_rate) come, in this order of priority, from the checkpoint's
    hyper_parameters (our own `m3ae_config` text if the file was written by `to-pt`, else the official
    sacred names), then from the preset (`--config-from NAME`, or with `auto` the preset whose shapes
    match exactly), then defaults (64-dimensional heads as CLIP/RoBERTa, the base probabilities).
    It is written as the `config` attribute in the `key = value` form of m3ae_config_print.
  * --compact writes the HDF5 1.10 object layout (a 1 MB tiny model is 0.9 MB instead of 1.4 MB);
    the default is the library's earliest layout, like the C writer. Both read with libhdf5 >= 1.10.
  * --image-size S resizes the CLIP positional embedding like the official adapt_position_encoding
    (F.interpolate(mode='bicubic', align_corners=False) on the grid, in float32, CLS row kept) and
    recomputes the fixed mim_head.decoder_pos_embed (2-D sin-cos, float64 then float32) for the new
    grid. The optimizer moments are then not converted (a resized model starts a new run).
  * AdamW moments. The official optimizer (m3ae_utils.set_schedule) has six parameter groups, each
    the list of `named_parameters()` (registration order, = state_dict order without buffers)
    filtered by the substring rules: [base/decay, base/no_decay, head/decay, head/no_decay,
    multi_modal/decay, multi_modal/no_decay]; `optimizer_states[0]["state"]` is indexed by the
    position of the parameter in the concatenation of the groups' lists. We rebuild those lists from
    the state_dict key order, check that every group has the stored number of parameters and that
    every moment has its parameter's shape, and write /optimizer/exp_avg/<key> and
    /optimizer/exp_avg_sq/<key> for every tensor m3ae updates (all trainable ones except the unused
    RoBERTa pooler). A tensor that has no optimizer state (it never got a gradient) gets zero
    moments, and is listed. If anything does not match, the moments are not converted
    (has_optimizer = 0) and the reason is printed.

to-pt
  Writes {"state_dict", "epoch", "global_step", "pytorch-lightning_version", "hyper_parameters":
  {"config": official names, "m3ae_config": our configuration text}} (or, with --bare, the state
  dict alone) that loads with load_state_dict(strict=True) into the OFFICIAL model: its keys are the
  official ones in the official order, including what the official module has and m3ae does not:
  * the CLIP text-tower leftovers vision_encoder.positional_embedding [77,512],
    vision_encoder.token_embedding.weight [49408,512], vision_encoder.ln_final.weight/bias [512]
    (clip_model.CLIP instantiates them from CLIP ViT-B/16; M3AE's forward never uses them);
  * the RoBERTa buffer language_encoder.embeddings.position_ids = arange(max_position_embeddings).
  Where the leftovers come from: THIS CONVERTER MAKES THEM, fixed: zero tables and an identity
  LayerNorm (weight 1, bias 0), or with --leftovers-from FILE the four tensors of another PyTorch
  checkpoint (e.g. the official one the weights were imported from, so that an official .ckpt ->
  to-h5 -> to-pt round trip gives these four back bit-identically too). They are not kept in the m3ae
  checkpoint: 25.3 M floats (101 MB) that nothing reads would enlarge every checkpoint and the
  trainer's memory, and since no forward uses them, any fixed value gives the same outputs; they are
  never trained in either code (the official AdamW skips them: they never get a gradient).
  --no-clip-leftovers and --no-position-ids drop them (the key set of tools/reference/m3ae_ref.M3AE).
  The optimizer moments are not exported.
"""
import argparse
import collections
import math
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "reference"))

FORMAT = "m3ae-checkpoint"
FORMAT_VERSION = 1

# our configuration keys, in the order of model/config.c (m3ae_config_print), and their types
CONFIG_KEYS = [
    ("image_size", int), ("patch_size", int), ("vision_width", int), ("vision_layers", int),
    ("vision_heads", int), ("vocab_size", int), ("max_text_len", int), ("max_position_embeddings", int),
    ("text_width", int), ("text_layers", int), ("text_heads", int), ("text_ffn", int),
    ("hidden_size", int), ("num_heads", int), ("num_top_layer", int), ("mlp_ratio", int),
    ("mim_decoder_hidden_size", int), ("mim_decoder_num_layers", int), ("mim_decoder_num_heads", int),
    ("mim_layer", int), ("mim_prob", float), ("mlm_prob", float), ("drop_rate", float), ("objective", str),
]
OBJECTIVES = ("separate", "joint")  # enum key: the official checkpoints were trained with "separate"
KEY_TYPES = dict(CONFIG_KEYS)

# the presets of model/config.c (= the model contract)
PRESETS = {
    "base": dict(image_size=288, patch_size=16, vision_width=768, vision_layers=11, vision_heads=12,
                 vocab_size=50265, max_text_len=64, max_position_embeddings=514, text_width=768,
                 text_layers=12, text_heads=12, text_ffn=3072, hidden_size=768, num_heads=12,
                 num_top_layer=6, mlp_ratio=4, mim_decoder_hidden_size=384, mim_decoder_num_layers=4,
                 mim_decoder_num_heads=6, mim_layer=3, mim_prob=0.75, mlm_prob=0.15, drop_rate=0.1,
                 objective="separate"),
    "small": dict(image_size=128, patch_size=16, vision_width=128, vision_layers=2, vision_heads=2,
                  vocab_size=50265, max_text_len=32, max_position_embeddings=514, text_width=128,
                  text_layers=2, text_heads=2, text_ffn=512, hidden_size=128, num_heads=2,
                  num_top_layer=2, mlp_ratio=4, mim_decoder_hidden_size=64, mim_decoder_num_layers=2,
                  mim_decoder_num_heads=2, mim_layer=1, mim_prob=0.75, mlm_prob=0.15, drop_rate=0.1,
                  objective="separate"),
    "tiny": dict(image_size=32, patch_size=8, vision_width=24, vision_layers=2, vision_heads=2,
                 vocab_size=1000, max_text_len=16, max_position_embeddings=18, text_width=40,
                 text_layers=2, text_heads=2, text_ffn=64, hidden_size=32, num_heads=2,
                 num_top_layer=2, mlp_ratio=4, mim_decoder_hidden_size=16, mim_decoder_num_layers=2,
                 mim_decoder_num_heads=2, mim_layer=1, mim_prob=0.75, mlm_prob=0.15, drop_rate=0.1,
                 objective="separate"),
}

# keys the tensor shapes determine; the others come from hyper_parameters / presets / defaults
SHAPE_KEYS = ["image_size", "patch_size", "vision_width", "vision_layers", "vocab_size",
              "max_position_embeddings", "text_width", "text_layers", "text_ffn", "hidden_size",
              "num_top_layer", "mlp_ratio", "mim_decoder_hidden_size", "mim_decoder_num_layers"]
OTHER_KEYS = [k for k, _ in CONFIG_KEYS if k not in SHAPE_KEYS]

# official sacred config names <-> ours (where the official config has the key)
OFFICIAL_NAMES = {
    "image_size": "image_size", "patch_size": "patch_size", "input_image_embed_size": "vision_width",
    "input_text_embed_size": "text_width", "vocab_size": "vocab_size", "max_text_len": "max_text_len",
    "hidden_size": "hidden_size", "num_heads": "num_heads", "num_top_layer": "num_top_layer",
    "mlp_ratio": "mlp_ratio", "mim_decoder_hidden_size": "mim_decoder_hidden_size",
    "mim_decoder_num_layers": "mim_decoder_num_layers", "mim_decoder_num_heads": "mim_decoder_num_heads",
    "mim_layer": "mim_layer", "mim_prob": "mim_prob", "mlm_prob": "mlm_prob", "drop_rate": "drop_rate",
}

CLIP_TEXT_LEFTOVERS = ("vision_encoder.token_embedding.", "vision_encoder.positional_embedding",
                       "vision_encoder.ln_final.", "vision_encoder.transformer.", "vision_encoder.text_projection",
                       "vision_encoder.logit_scale", "vision_encoder.visual.proj")
BUFFERS = ("language_encoder.embeddings.position_ids", "language_encoder.embeddings.token_type_ids")
FINETUNE_HEADS = ("vqa_head.", "cls_head.", "irtr_head.")

# the official optimizer grouping (m3ae_utils.set_schedule)
NO_DECAY = ["bias", "LayerNorm.bias", "LayerNorm.weight", "norm.bias", "norm.weight", "norm1.bias",
            "norm1.weight", "norm2.bias", "norm2.weight"]
HEAD_NAMES = ["mlm_head", "mim_head", "itm_head", "vqa_head", "cls_head", "irtr_head"]
GROUP_NAMES = ["base/decay", "base/no_decay", "head/decay", "head/no_decay", "multi_modal/decay",
               "multi_modal/no_decay"]


class ConvertError(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def warn(msg):
    print("warning: " + msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# configuration text (the form of m3ae_config_print in model/config.c)
# --------------------------------------------------------------------------------------------
def config_text(cfg, preset):
    lines = ["%-24s = %s" % ("preset", preset)]
    for k, t in CONFIG_KEYS:
        fmt = {int: "%-24s = %d", float: "%-24s = %g", str: "%-24s = %s"}[t]
        lines.append(fmt % (k, cfg[k]))
    return "\n".join(lines) + "\n"


def parse_config_text(text):
    """Returns (cfg dict of the keys found, preset name or None)."""
    cfg, preset = {}, None
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if "=" not in line:
            continue  # not a setting (a run's text may hold other lines)
        k, v = (s.strip() for s in line.split("=", 1))
        if k == "preset":
            preset = v
        elif k in KEY_TYPES:
            cfg[k] = convert_value(k, v)
        # other keys (training settings in a run's text) are not model keys: ignored
    return cfg, preset


def convert_value(k, v):
    t = KEY_TYPES[k]
    if t is str:
        v = str(v).strip()
        if k == "objective" and v not in OBJECTIVES:
            raise ConvertError(f"objective = {v}: expected one of {', '.join(OBJECTIVES)}")
        return v
    return int(float(v)) if t is int else float(v)


def preset_name_of(cfg):
    for name, p in PRESETS.items():
        if all(p[k] == cfg[k] for k, _ in CONFIG_KEYS):
            return name
    return "custom"


def validate_config(c):
    errs = []
    if c["image_size"] % c["patch_size"]:
        errs.append(f"image_size {c['image_size']} is not a multiple of patch_size {c['patch_size']}")
    for w, h in [("vision_width", "vision_heads"), ("text_width", "text_heads"), ("hidden_size", "num_heads"),
                 ("mim_decoder_hidden_size", "mim_decoder_num_heads")]:
        if c[h] < 1 or c[w] % c[h]:
            errs.append(f"{w} {c[w]} is not divisible by {h} {c[h]}")
    if c["mim_decoder_hidden_size"] % 4:
        errs.append("mim_decoder_hidden_size must be a multiple of 4 (2-D sin-cos)")
    if c["max_position_embeddings"] < c["max_text_len"] + 2:
        errs.append(f"max_position_embeddings {c['max_position_embeddings']} < max_text_len + 2 = "
                    f"{c['max_text_len'] + 2}")
    if c["mim_layer"] > c["num_top_layer"] or c["mim_layer"] < 0:
        errs.append(f"mim_layer {c['mim_layer']} must be in 0..num_top_layer {c['num_top_layer']}")
    if errs:
        raise ConvertError("the configuration is invalid: " + "; ".join(errs) +
                           " (set the keys the shapes cannot give with --config-from or --set key=value)")


# --------------------------------------------------------------------------------------------
# reading PyTorch checkpoints
# --------------------------------------------------------------------------------------------
def load_torch(path):
    import torch
    try:
        with open(path, "rb") as f:
            magic = f.read(8)
    except OSError as e:
        raise ConvertError(f"cannot read {path}: {e}")
    if magic == b"\x89HDF\r\n\x1a\n":
        raise ConvertError(f"{path} is an HDF5 file, not a PyTorch checkpoint (to convert an m3ae .h5 use to-pt)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001
        raise ConvertError(f"cannot read {path} with torch.load: {e}")
    if not isinstance(obj, dict):
        raise ConvertError(f"{path} holds a {type(obj).__name__}, not a checkpoint dict or a state dict")
    if "state_dict" in obj and isinstance(obj["state_dict"], dict):
        sd, meta = obj["state_dict"], obj
    else:
        sd, meta = obj, {}
    sd = collections.OrderedDict((k, v) for k, v in sd.items() if hasattr(v, "shape"))
    if sd and all(k.startswith("module.") for k in sd):
        sd = collections.OrderedDict((k[len("module."):], v) for k, v in sd.items())
    if not sd:
        raise ConvertError(f"{path} has no tensors")
    return sd, meta


def hyper_config(meta):
    """The sacred config dict from hyper_parameters (flat or under 'config'), or {}."""
    hp = meta.get("hyper_parameters") or meta.get("hparams") or {}
    try:
        hp = dict(hp)
    except (TypeError, ValueError):
        return {}, None
    ours = hp.get("m3ae_config") if isinstance(hp.get("m3ae_config"), str) else None
    if isinstance(hp.get("config"), dict):
        hp = dict(hp["config"])
    return hp, ours


def count_indexed(sd, prefix):
    """Number of distinct i in keys prefix.<i>.*"""
    idx = set()
    for k in sd:
        if k.startswith(prefix):
            rest = k[len(prefix):].split(".", 1)[0]
            if rest.isdigit():
                idx.add(int(rest))
    if idx and idx != set(range(len(idx))):
        raise ConvertError(f"layers under {prefix} are not numbered 0..n-1: {sorted(idx)}")
    return len(idx)


def shape_of(sd, key):
    if key not in sd:
        raise ConvertError(f"the checkpoint lacks {key}, needed to infer the configuration")
    return tuple(sd[key].shape)


def infer_shapes(sd):
    """Every key the shapes determine."""
    c = {}
    w = shape_of(sd, "vision_encoder.visual.conv1.weight")  # (W,3,P,P)
    c["vision_width"], c["patch_size"] = w[0], w[3]
    rows = shape_of(sd, "vision_encoder.visual.positional_embedding")[0]
    g = int(round(math.sqrt(rows - 1)))
    if g * g + 1 != rows:
        raise ConvertError(f"vision_encoder.visual.positional_embedding has {rows} rows, not 1 + a square grid")
    c["image_size"] = g * c["patch_size"]
    c["vision_layers"] = count_indexed(sd, "vision_encoder.visual.transformer.resblocks.")
    c["vocab_size"], c["text_width"] = shape_of(sd, "language_encoder.embeddings.word_embeddings.weight")
    c["max_position_embeddings"] = shape_of(sd, "language_encoder.embeddings.position_embeddings.weight")[0]
    c["text_layers"] = count_indexed(sd, "language_encoder.encoder.layer.")
    c["text_ffn"] = shape_of(sd, "language_encoder.encoder.layer.0.intermediate.dense.weight")[0]
    c["hidden_size"] = shape_of(sd, "multi_modal_language_proj.weight")[0]
    c["num_top_layer"] = count_indexed(sd, "multi_modal_language_layers.")
    ffn = shape_of(sd, "multi_modal_language_layers.0.intermediate.dense.weight")[0]
    if ffn % c["hidden_size"]:
        raise ConvertError(f"fusion feed-forward width {ffn} is not a multiple of hidden_size {c['hidden_size']}")
    c["mlp_ratio"] = ffn // c["hidden_size"]
    if "mim_head.decoder_embed.weight" in sd:
        c["mim_decoder_hidden_size"] = shape_of(sd, "mim_head.decoder_embed.weight")[0]
        c["mim_decoder_num_layers"] = count_indexed(sd, "mim_head.decoder.resblocks.")
    return {k: int(v) for k, v in c.items()}


def build_config(sd, meta, config_from, overrides):
    """Returns (cfg, notes list)."""
    notes = []
    shapes = infer_shapes(sd)
    hp, ours_text = hyper_config(meta)
    src = {}  # key -> where the value came from
    cfg = dict(shapes)
    for k in shapes:
        src[k] = "shapes"

    # the preset that supplies the keys shapes cannot give
    preset = None
    if config_from == "auto":
        for name, p in PRESETS.items():
            if all(p[k] == shapes.get(k) for k in SHAPE_KEYS):
                preset = name
                break
    else:
        preset = config_from
        diff = [f"{k}={shapes[k]} (preset {PRESETS[preset][k]})" for k in SHAPE_KEYS
                if k in shapes and PRESETS[preset][k] != shapes[k]]
        if diff:
            warn(f"the tensor shapes differ from preset {preset}: {', '.join(diff)}; the shapes are used")

    hp_ours = parse_config_text(ours_text)[0] if ours_text else {}
    hp_off = {OFFICIAL_NAMES[k]: v for k, v in hp.items() if k in OFFICIAL_NAMES and v is not None}
    for k, _ in CONFIG_KEYS:
        for name, table in [("hyper_parameters m3ae_config", hp_ours), ("hyper_parameters", hp_off)]:
            if k in table:
                v = convert_value(k, table[k])
                if k in cfg and src[k] == "shapes":
                    if v != cfg[k]:
                        warn(f"{name} says {k} = {v}, the tensor shapes say {cfg[k]}: the shapes are used")
                    continue
                if k not in cfg:
                    cfg[k], src[k] = v, name
        if k not in cfg and preset is not None:
            cfg[k], src[k] = PRESETS[preset][k], f"preset {preset}"
    # defaults for what is still unknown
    defaults = {
        "vision_heads": max(1, cfg["vision_width"] // 64), "text_heads": max(1, cfg["text_width"] // 64),
        "num_heads": max(1, cfg["hidden_size"] // 64),
        "mim_decoder_hidden_size": PRESETS["base"]["mim_decoder_hidden_size"],
        "mim_decoder_num_layers": PRESETS["base"]["mim_decoder_num_layers"],
        "max_text_len": min(64, cfg["max_position_embeddings"] - 2),
        "mim_layer": min(3, cfg["num_top_layer"]), "mim_prob": 0.75, "mlm_prob": 0.15, "drop_rate": 0.1,
        "objective": "separate",
    }
    dh = cfg.get("mim_decoder_hidden_size", defaults["mim_decoder_hidden_size"])
    defaults["mim_decoder_num_heads"] = max(1, dh // 64)
    for k, _ in CONFIG_KEYS:
        if k not in cfg:
            cfg[k], src[k] = defaults[k], "default"
    for kv in overrides or []:
        if "=" not in kv:
            raise ConvertError(f"--set {kv}: expected key=value")
        k, v = (s.strip() for s in kv.split("=", 1))
        if k not in KEY_TYPES:
            raise ConvertError(f"--set {kv}: unknown configuration key {k}")
        if k in SHAPE_KEYS and k in shapes:
            raise ConvertError(f"--set {kv}: {k} is fixed by the tensor shapes (use --image-size to resize)")
        cfg[k], src[k] = convert_value(k, v), "--set"
    for k, _ in CONFIG_KEYS:
        if src[k] == "default" and k != "objective":
            notes.append(f"{k} = {cfg[k]} is a default (not in the checkpoint); check it or pass --set {k}=...")
    validate_config(cfg)
    return cfg, src, notes


# --------------------------------------------------------------------------------------------
# the model's keys and shapes (the reference model, built on the meta device: no memory)
# --------------------------------------------------------------------------------------------
def model_shapes(cfg):
    import torch
    import m3ae_ref as R
    with torch.device("meta"):
        m = R.M3AE(dict(cfg), drop=0.0)
    return collections.OrderedDict((k, tuple(v.shape)) for k, v in m.state_dict().items())


def gets_gradient(key):
    """m3ae_param_gets_gradient (model/optimizer.c): AdamW moments exist for these tensors."""
    return key != "mim_head.decoder_pos_embed" and not key.startswith("language_encoder.pooler.")


def sincos_pos_embed(dim, grid):
    import m3ae_ref as R
    return R.sincos_2d_pos_embed(dim, grid, True).astype(np.float32)[None]  # (1, 1+g*g, dim)


def resize_pos_embed(pos, grid_after):
    """The official adapt_position_encoding on a (1+g*g, W) float tensor: bicubic on the grid,
    align_corners=False, CLS row kept; computed in the tensor's dtype (float32)."""
    import torch
    import torch.nn.functional as F
    rows, w = pos.shape
    g = int(round(math.sqrt(rows - 1)))
    grid = pos[1:].reshape(g, g, w).permute(2, 0, 1).unsqueeze(0)
    out = F.interpolate(grid, size=(grid_after, grid_after), mode="bicubic", align_corners=False)
    out = out.squeeze(0).permute(1, 2, 0).reshape(-1, w)
    return torch.cat([pos[:1], out], dim=0)


# --------------------------------------------------------------------------------------------
# optimizer moments
# --------------------------------------------------------------------------------------------
def official_group(name):
    nd = any(s in name for s in NO_DECAY)
    head = any(s in name for s in HEAD_NAMES)
    mm = "multi_modal" in name
    if head and mm:
        return None  # in no official group
    return (4 if mm else 2 if head else 0) + (1 if nd else 0)


def is_param_key(k):
    if k in BUFFERS or k.endswith(".position_ids") or k.endswith(".token_type_ids"):
        return False
    return not k.split(".", 1)[0].startswith(("train_", "val_", "test_"))  # metric states, if persisted


def convert_moments(sd_all, meta, keys_out):
    """Returns ({key: (exp_avg, exp_avg_sq)} for every key of keys_out that gets a gradient, report)
    or (None, reason)."""
    import torch
    states = meta.get("optimizer_states")
    if not states:
        return None, "the checkpoint has no optimizer_states"
    if len(states) != 1:
        return None, f"the checkpoint has {len(states)} optimizers; expected the one AdamW"
    osd = states[0]
    if not isinstance(osd, dict) or "param_groups" not in osd or "state" not in osd:
        return None, "optimizer_states[0] is not an optimizer state_dict"
    groups, state = osd["param_groups"], osd["state"]
    names = [k for k in sd_all if is_param_key(k)]
    if len(groups) == 6:
        lists = [[] for _ in range(6)]
        for n in names:
            g = official_group(n)
            if g is not None:
                lists[g].append(n)
    elif len(groups) == 1:
        lists = [names]
    else:
        return None, f"the optimizer has {len(groups)} parameter groups; expected the official 6"
    for g, (grp, lst) in enumerate(zip(groups, lists)):
        if len(grp["params"]) != len(lst):
            gname = GROUP_NAMES[g] if len(groups) == 6 else "all"
            return None, (f"parameter group {g} ({gname}) holds {len(grp['params'])} parameters, but the "
                          f"state_dict gives {len(lst)} by the official rule; cannot map the moments")
    idx2name = {}
    for grp, lst in zip(groups, lists):
        for i, n in zip(grp["params"], lst):
            idx2name[i] = n
    if len(groups) == 6:
        for g, grp in enumerate(groups):
            if (g % 2 == 1) != (float(grp.get("weight_decay", 0.0)) == 0.0):
                warn(f"parameter group {g} ({GROUP_NAMES[g]}) has weight_decay {grp.get('weight_decay')}: "
                     "not the official order? (counts matched, shapes are checked next)")
    moments, steps = {}, set()
    for i, st in state.items():
        if i not in idx2name:
            return None, f"optimizer state index {i} is in no parameter group"
        n = idx2name[i]
        if "exp_avg" not in st or "exp_avg_sq" not in st:
            return None, f"the optimizer state of {n} has no exp_avg/exp_avg_sq (not Adam/AdamW?)"
        for m in ("exp_avg", "exp_avg_sq"):
            if tuple(st[m].shape) != tuple(sd_all[n].shape):
                return None, (f"the {m} of {n} (state index {i}) has shape {tuple(st[m].shape)}, the "
                              f"parameter {tuple(sd_all[n].shape)}: the group mapping is wrong")
        moments[n] = (st["exp_avg"], st["exp_avg_sq"])
        if "step" in st:
            s = st["step"]
            steps.add(int(s.item()) if torch.is_tensor(s) else int(s))
    out, zeros = {}, []
    for k in keys_out:
        if not gets_gradient(k):
            continue
        if k in moments:
            out[k] = moments[k]
        else:
            z = torch.zeros(sd_all[k].shape, dtype=torch.float32)
            out[k] = (z, z)
            zeros.append(k)
    ignored = sorted(set(moments) - set(out))
    rep = {"mapped": len(moments), "zeros": zeros, "ignored": ignored, "steps": sorted(steps)}
    return out, rep


# --------------------------------------------------------------------------------------------
# HDF5 writing in our format (checkpoints/h5file.c)
# --------------------------------------------------------------------------------------------
def chunk_dims(shape):
    """h5file.c chunk_dims: halve dimensions, first ones first, until <= 262144 floats (1 MiB)."""
    chunk = [int(s) for s in shape]
    total = int(np.prod(chunk))
    for i in range(len(chunk)):
        while chunk[i] > 1 and total > 262144:
            total //= chunk[i]
            chunk[i] = (chunk[i] + 1) // 2
            total *= chunk[i]
        if total <= 262144:
            break
    return tuple(chunk)


USERBLOCK = 512  # checkpoints/h5file.h M3AE_H5_USERBLOCK
BLOCK_MAGIC = b"m3ae-whole-file-sha256\n"


def _whole_file_block(length, hexdigest):
    """The whole-file checksum block of checkpoints/h5file_sum.c, byte for byte."""
    text = BLOCK_MAGIC + b"version 1\nlength %d\nsha256 %s\n" % (length, hexdigest.encode())
    return text + b"\0" * (USERBLOCK - len(text))


def _sha256_after_block(f):
    import hashlib
    h = hashlib.sha256()
    f.seek(USERBLOCK)
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
    return h.hexdigest()


def write_whole_file_block(path):
    """After h5py closed a file made with userblock_size=USERBLOCK: its length and the SHA-256 of the
    bytes after the user block go into the block (m3ae checks them before libhdf5 parses the file)."""
    with open(path, "r+b") as f:
        length = os.fstat(f.fileno()).st_size
        digest = _sha256_after_block(f)
        f.seek(0)
        f.write(_whole_file_block(length, digest))
        f.flush()
        os.fsync(f.fileno())


def check_whole_file_block(path):
    """As m3ae_h5_sum_check: refuses a damaged file before h5py (libhdf5) parses it. A file that starts
    with the HDF5 signature has no block (an older m3ae, tools/reference fixtures): one warning."""
    with open(path, "rb") as f:
        head = f.read(USERBLOCK)
        if head[:8] == b"\x89HDF\r\n\x1a\n":
            warn(f"{path} has no whole-file checksum (written by an older m3ae or another tool): read unchecked")
            return
        damaged = f"{path}: whole-file checksum mismatch (%s): the file is damaged; use an older checkpoint"
        if not head.startswith(BLOCK_MAGIC):
            f.seek(USERBLOCK)
            if f.read(8) == b"\x89HDF\r\n\x1a\n":
                raise ConvertError(damaged % "the checksum block at its start is damaged")
            raise ConvertError(f"{path} is neither an HDF5 file nor one with m3ae's whole-file checksum")
        try:
            fields = dict(line.split(" ", 1) for line in head[len(BLOCK_MAGIC):].split(b"\0", 1)[0].decode().splitlines())
            length, digest = int(fields["length"]), fields["sha256"]
            if fields["version"] != "1":
                raise ConvertError(f"{path}: whole-file checksum block of version {fields['version']}; this "
                                   f"converter reads version 1")
            ok = _whole_file_block(length, digest) == head
        except (ValueError, KeyError, UnicodeDecodeError):
            ok = False
        if not ok:
            raise ConvertError(damaged % "the checksum block at its start is damaged")
        size = os.fstat(f.fileno()).st_size
        if size != length:
            raise ConvertError(damaged % f"it is {size} bytes, its checksum block says {length}: truncated or extended")
        if _sha256_after_block(f) != digest:
            raise ConvertError(damaged % f"the SHA-256 of its {length - USERBLOCK} bytes differs from the one written")


def write_h5(path, tensors, moments, attrs, compact=False):
    """tensors: ordered {key: float32 numpy}; moments: None or {key: (m, v)}; attrs: dict.
    compact: HDF5 1.10 object layout (single-chunk index: ~3 KB less per tensor; needs libhdf5 >= 1.10),
    else the library's earliest layout, as the C writer (checkpoints/h5file.c) makes."""
    import h5py
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with h5py.File(tmp, "w", libver=("v110", "v110") if compact else None, userblock_size=USERBLOCK) as f:
            def put(name, a):
                a = np.ascontiguousarray(a, dtype="<f4")
                if a.ndim == 0:
                    a = a.reshape(1)
                f.create_dataset(name, data=a, chunks=chunk_dims(a.shape), fletcher32=True)

            for k, a in tensors.items():
                put("model/" + k, a)
            if moments is not None:
                for k, (m, v) in moments.items():
                    put("optimizer/exp_avg/" + k, m)
                    put("optimizer/exp_avg_sq/" + k, v)
            s = h5py.string_dtype("utf-8")
            for k, v in attrs.items():
                if isinstance(v, str):
                    f.attrs.create(k, v, dtype=s)
                else:
                    f.attrs.create(k, np.int64(v), dtype="<i8")
        write_whole_file_block(tmp)  # after closing, before the rename: only a whole file has a valid block
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def check_classifier_heads(out, cfg):
    """The official vqa_head / cls_head (spec 1.6): Sequential(Linear(2H,2H), LayerNorm(2H), GELU,
    Linear(2H,n)) -> keys <head>.{0,1,3}.{weight,bias}. Checks the shapes against the fusion width and
    returns notes naming the label count n, which m3ae takes from the dataset being evaluated (its
    manifest), not from the configuration: prepare it with the head's vocabulary."""
    notes = []
    h2 = 2 * cfg["hidden_size"]
    for head in ("vqa_head", "cls_head"):
        keys = [k for k in out if k.startswith(head + ".")]
        if not keys:
            continue
        want = {f"{head}.0.weight": (h2, h2), f"{head}.0.bias": (h2,), f"{head}.1.weight": (h2,),
                f"{head}.1.bias": (h2,)}
        w3, b3 = out.get(f"{head}.3.weight"), out.get(f"{head}.3.bias")
        if w3 is None or b3 is None or w3.ndim != 2 or w3.shape[1] != h2 or b3.shape != (w3.shape[0],):
            raise ConvertError(f"{head}: {head}.3.weight/bias are not a Linear({h2}, n) (official "
                               f"Sequential(Linear, LayerNorm, GELU, Linear) on the {h2}-wide pooled features)")
        bad = [f"{k} {tuple(out[k].shape) if k in out else 'missing'} (want {v})" for k, v in want.items()
               if k not in out or tuple(out[k].shape) != v]
        extra = sorted(set(keys) - set(want) - {f"{head}.3.weight", f"{head}.3.bias"})
        if bad or extra:
            raise ConvertError(f"{head} is not the official classifier head: " + "; ".join(bad + extra))
        notes.append(f"{head} kept: {w3.shape[0]} labels (m3ae evaluate --task {head[:3]} takes the count from the "
                     f"dataset's manifest: prepare it with the vocabulary this head was trained on)")
    return notes


def to_numpy32(t, key, notes):
    import torch
    if not t.is_floating_point():
        raise ConvertError(f"{key} has dtype {t.dtype}, expected a floating-point tensor")
    if t.dtype == torch.float64:
        notes.add("float64 tensors were rounded to float32")
    elif t.dtype != torch.float32:
        notes.add(f"{t.dtype} tensors were widened to float32 (exactly)")
    return t.detach().to(torch.float32).contiguous().numpy()


# --------------------------------------------------------------------------------------------
# to-h5
# --------------------------------------------------------------------------------------------
def cmd_to_h5(args):
    import torch
    sd, meta = load_torch(args.input)
    lightning = bool(meta)
    cfg, src, notes = build_config(sd, meta, args.config_from, args.set)
    image_size_in = cfg["image_size"]
    if args.image_size and args.image_size != image_size_in:
        if args.image_size % cfg["patch_size"]:
            raise ConvertError(f"--image-size {args.image_size} is not a multiple of patch_size {cfg['patch_size']}")
        cfg["image_size"] = args.image_size
        validate_config(cfg)
    expected = model_shapes(cfg)

    dropped = collections.OrderedDict()
    for k in sd:
        if k in expected:
            continue
        if k.startswith(CLIP_TEXT_LEFTOVERS):
            dropped.setdefault("CLIP text-tower leftovers (unused)", []).append(k)
        elif k in BUFFERS:
            dropped.setdefault("RoBERTa buffers (rebuilt by the model)", []).append(k)
        elif k.startswith(FINETUNE_HEADS):
            if not args.keep_heads:
                dropped.setdefault("fine-tuning heads (use --keep-heads to keep)", []).append(k)
        else:
            dropped.setdefault("unknown to m3ae", []).append(k)

    # resize the CLIP position table / the decoder's fixed table for another image size
    out = collections.OrderedDict()
    grid = cfg["image_size"] // cfg["patch_size"]
    resized = cfg["image_size"] != image_size_in
    dtype_notes = set()
    for k in expected:
        if k not in sd:
            continue
        t = sd[k]
        if k == "vision_encoder.visual.positional_embedding" and resized:
            t = resize_pos_embed(t.detach().to(torch.float32), grid)
        if k == "mim_head.decoder_pos_embed" and resized:
            continue  # recomputed below
        out[k] = to_numpy32(t, k, dtype_notes)
    if args.keep_heads:
        for k in sd:
            if k.startswith(FINETUNE_HEADS):
                out[k] = to_numpy32(sd[k], k, dtype_notes)
        notes.extend(check_classifier_heads(out, cfg))
    pe = "mim_head.decoder_pos_embed"
    if pe in expected and (pe not in out):
        out[pe] = sincos_pos_embed(cfg["mim_decoder_hidden_size"], grid)
        notes.append(f"{pe} computed (2-D sin-cos for the {grid}x{grid} grid)")
    elif pe in out:
        ref = sincos_pos_embed(cfg["mim_decoder_hidden_size"], grid)
        if ref.shape != out[pe].shape or float(np.max(np.abs(ref - out[pe]))) > 1e-5:
            warn(f"{pe} in the checkpoint is not the 2-D sin-cos table; kept as stored")

    missing = [k for k in expected if k not in out]
    wrong = [f"{k}: file {tuple(out[k].shape)}, model {expected[k]}" for k in expected
             if k in out and tuple(out[k].shape) != expected[k]]
    if wrong:
        raise ConvertError("tensors of another shape than the inferred configuration: " + "; ".join(wrong))

    # optimizer
    moments, opt_note = None, "not converted"
    if args.no_optimizer:
        opt_note = "not converted (--no-optimizer)"
    elif resized:
        opt_note = "not converted (the model was resized; a resized model starts a new run)"
    elif missing:
        opt_note = "not converted (the model is incomplete)"
    elif lightning:
        moments, rep = convert_moments(sd, meta, list(out))
        if moments is None:
            opt_note = "not converted: " + rep
            warn("AdamW moments " + opt_note)
        else:
            moments = {k: (to_numpy32(m, k, dtype_notes), to_numpy32(v, k, dtype_notes))
                       for k, (m, v) in moments.items()}
            opt_note = (f"converted: {rep['mapped']} optimizer states mapped by the official 6-group rule, "
                        f"{len(moments)} tensors written")
            if rep["zeros"]:
                opt_note += f"; zero moments (no state: never got a gradient) for {len(rep['zeros'])}: " + \
                            ", ".join(rep["zeros"])
            if rep["ignored"]:
                opt_note += f"; states of dropped tensors ignored: {', '.join(rep['ignored'])}"
            if rep["steps"]:
                opt_note += f"; AdamW per-tensor step {rep['steps']}"
    else:
        opt_note = "none (a bare state dict)"

    step = args.step if args.step is not None else int(meta.get("global_step", 0) or 0)
    epoch = int(meta.get("epoch", 0) or 0)
    preset = preset_name_of(cfg)
    text = config_text(cfg, preset)
    attrs = collections.OrderedDict([
        ("format", FORMAT), ("format_version", FORMAT_VERSION), ("step", step), ("epoch", epoch),
        ("position", 0), ("seed", 0), ("world_size", 1), ("has_optimizer", 1 if moments is not None else 0),
        ("config", text), ("m3ae_version", "converter"), ("m3ae_commit", "converter")])
    write_h5(args.out, out, moments, attrs, compact=args.compact)

    n_par = sum(int(a.size) for a in out.values())
    log(f"read {args.input}: {'Lightning checkpoint' if lightning else 'bare state dict'}, {len(sd)} tensors, "
        f"global_step {meta.get('global_step', '-')}, epoch {meta.get('epoch', '-')}")
    log(f"configuration ({preset}):")
    for line in text.splitlines()[1:]:
        k = line.split("=")[0].strip()
        log(f"  {line}   [{src.get(k, '?')}]")
    for what, ks in dropped.items():
        log(f"dropped {len(ks)} {what}: {', '.join(ks)}")
    if resized:
        log(f"resized vision_encoder.visual.positional_embedding {image_size_in} -> {cfg['image_size']} px "
            f"(bicubic, CLS row kept) and recomputed {pe}")
    for n in notes + sorted(dtype_notes):
        log("note: " + n)
    if missing:
        warn(f"{len(missing)} tensors of the model are not in the checkpoint (m3ae loads it only "
             f"non-strictly, e.g. --init-from): {', '.join(missing)}")
    log(f"optimizer moments: {opt_note}")
    log(f"wrote {args.out}: {len(out)} tensors, {n_par:,} values, step {step}, epoch {epoch}, "
        f"has_optimizer {attrs['has_optimizer']}")
    return 0


# --------------------------------------------------------------------------------------------
# to-pt
# --------------------------------------------------------------------------------------------
def read_h5(path):
    import h5py
    check_whole_file_block(path)
    with h5py.File(path, "r") as f:
        fmt = f.attrs.get("format")
        if isinstance(fmt, bytes):
            fmt = fmt.decode()
        if fmt != FORMAT:
            raise ConvertError(f"{path} is not an m3ae checkpoint (format attribute {fmt!r})")
        if int(f.attrs["format_version"]) > FORMAT_VERSION:
            raise ConvertError(f"{path} has format_version {int(f.attrs['format_version'])}, newer than this "
                               f"converter ({FORMAT_VERSION})")
        attrs = {}
        for k, v in f.attrs.items():
            attrs[k] = v.decode() if isinstance(v, bytes) else (v if isinstance(v, str) else int(v))
        tensors = collections.OrderedDict()
        f["model"].visititems(lambda n, o: tensors.__setitem__(n, o[...]) if isinstance(o, h5py.Dataset) else None)
        for k, a in tensors.items():
            if a.dtype != np.float32:
                if a.dtype == np.uint16:  # bfloat16 stored as uint16 (h5file.c)
                    tensors[k] = (a.astype(np.uint32) << 16).view(np.float32)
                else:
                    raise ConvertError(f"{path}: /model/{k} has dtype {a.dtype}")
    return tensors, attrs


def clip_leftovers(source):
    """The four CLIP text-tower leftovers: fixed values (zero tables, identity LayerNorm) or, from a
    PyTorch checkpoint `source` (official names, or CLIP's own without `vision_encoder.`), its tensors,
    which must have the official shapes."""
    import torch
    import m3ae_ref as R
    t = R.CLIP_TEXT_TOWER
    shapes = collections.OrderedDict([
        ("vision_encoder.positional_embedding", (t["context_length"], t["width"])),
        ("vision_encoder.token_embedding.weight", (t["vocab_size"], t["width"])),
        ("vision_encoder.ln_final.weight", (t["width"],)), ("vision_encoder.ln_final.bias", (t["width"],))])
    if source is None:
        return collections.OrderedDict(
            (k, torch.ones(s) if k.endswith("ln_final.weight") else torch.zeros(s)) for k, s in shapes.items())
    sd, _ = load_torch(source)
    out = collections.OrderedDict()
    for k, s in shapes.items():
        v = sd.get(k, sd.get(k[len("vision_encoder."):]))
        if v is None:
            raise ConvertError(f"--leftovers-from {source} has no {k} (nor {k[len('vision_encoder.'):]})")
        if tuple(v.shape) != s:
            raise ConvertError(f"--leftovers-from {source}: {k} has shape {tuple(v.shape)}, the official one is {s}")
        out[k] = v.detach().to(torch.float32).clone()
    return out


def with_official_extras(sd, cfg, args):
    """sd (our keys, in our order) with what the official module adds, where its state_dict lists it:
    vision_encoder.positional_embedding before vision_encoder.visual.* (a parameter of CLIP itself
    comes before its submodules), token_embedding and ln_final after it; position_ids before the
    RoBERTa embeddings' parameters (a buffer of the embeddings module itself)."""
    import torch
    left = clip_leftovers(args.leftovers_from) if args.clip_leftovers else {}
    pid = "language_encoder.embeddings.position_ids"
    out = collections.OrderedDict()
    keys = list(sd)
    last_visual = max(i for i, k in enumerate(keys) if k.startswith("vision_encoder.visual."))
    for i, k in enumerate(keys):
        if left and k.startswith("vision_encoder.visual.") and "vision_encoder.positional_embedding" not in out:
            out["vision_encoder.positional_embedding"] = left["vision_encoder.positional_embedding"]
        if args.position_ids and k.startswith("language_encoder.embeddings.") and pid not in out:
            out[pid] = torch.arange(cfg["max_position_embeddings"], dtype=torch.int64)[None]
        out[k] = sd[k]
        if left and i == last_visual:
            for name in ("vision_encoder.token_embedding.weight", "vision_encoder.ln_final.weight",
                         "vision_encoder.ln_final.bias"):
                out[name] = left[name]
    return out


def cmd_to_pt(args):
    import torch
    tensors, attrs = read_h5(args.input)
    cfg, preset = parse_config_text(attrs.get("config", ""))
    lacking = [k for k, _ in CONFIG_KEYS if k not in cfg]
    if lacking:
        if preset in PRESETS:
            for k in lacking:
                cfg[k] = PRESETS[preset][k]
        else:
            raise ConvertError(f"{args.input}: the config attribute lacks {', '.join(lacking)}")
    expected = model_shapes(cfg)
    missing = [k for k in expected if k not in tensors]
    extra = [k for k in tensors if k not in expected]
    wrong = [k for k in expected if k in tensors and tuple(tensors[k].shape) != expected[k]]
    if missing or wrong:
        raise ConvertError(f"{args.input} does not match its configuration: missing {missing}, other shape {wrong}")
    sd = collections.OrderedDict()
    for k in expected:
        sd[k] = torch.from_numpy(np.array(tensors[k], dtype=np.float32))
    sd = with_official_extras(sd, cfg, args)
    for k in extra:
        if k.startswith(FINETUNE_HEADS):
            sd[k] = torch.from_numpy(np.array(tensors[k], dtype=np.float32))
        else:
            warn(f"/model/{k} is not part of the model: not exported")
    if args.bare:
        obj = sd
    else:
        official = {off: cfg[ours] for off, ours in OFFICIAL_NAMES.items()}
        official.update({"vit": "ViT-B/16" if cfg["patch_size"] == 16 else f"ViT-custom/{cfg['patch_size']}",
                         "tokenizer": "roberta-base",
                         "loss_names": {"mlm": 1, "mim": 1, "itm": 1, "vqa": 0, "cls": 0, "irtr": 0},
                         "norm_pix_loss": True, "num_layers": cfg["num_top_layer"]})
        obj = {"epoch": int(attrs.get("epoch", 0)), "global_step": int(attrs.get("step", 0)),
               "pytorch-lightning_version": "1.3.2", "state_dict": sd, "callbacks": {},
               "hyper_parameters": {"config": official, "m3ae_config": config_text(cfg, preset or "custom")}}
    tmp = f"{args.out}.tmp-{os.getpid()}"
    torch.save(obj, tmp)
    os.replace(tmp, args.out)
    log(f"wrote {args.out}: {'bare state dict' if args.bare else 'Lightning-style checkpoint'}, {len(sd)} tensors, "
        f"step {attrs.get('step', 0)}, epoch {attrs.get('epoch', 0)} (configuration {preset}); "
        f"the optimizer moments are not exported")
    extras = []
    if args.clip_leftovers:
        extras.append("the 4 CLIP text-tower leftovers " +
                      (f"from {args.leftovers_from}" if args.leftovers_from else "as fixed zeros / identity LayerNorm"))
    if args.position_ids:
        extras.append("the RoBERTa position_ids buffer")
    log("official extras: " + (", ".join(extras) if extras else "none (the key set of tools/reference/m3ae_ref.M3AE)"))
    return 0


# --------------------------------------------------------------------------------------------
# self-test and fixture
# --------------------------------------------------------------------------------------------
def _ns(**kw):
    d = dict(config_from="auto", image_size=None, step=None, keep_heads=False, no_optimizer=False, set=None,
             bare=False, position_ids=True, clip_leftovers=True, leftovers_from=None, compact=False)
    d.update(kw)
    return argparse.Namespace(**d)


def _fixture_inputs(path):
    import h5py
    import torch
    with h5py.File(path, "r") as f:
        return {k: torch.from_numpy(f["inputs"][k][...]) for k in f["inputs"]}


def _official_like(model, cfg):
    """Adds what the official module has and our reference lacks: the CLIP text leftovers (params,
    in named_parameters, never used) and the RoBERTa position_ids buffer (m3ae_ref.add_official_extras)."""
    import m3ae_ref as R
    return R.add_official_extras(model)


def _official_optimizer(model):
    import torch
    lists = [[] for _ in range(6)]
    for n, p in model.named_parameters():
        g = official_group(n)
        if g is not None:
            lists[g].append(p)
    groups = [{"params": lst, "weight_decay": 0.0 if g % 2 else 0.01, "lr": 1e-3 * (1 if g < 2 else 5)}
              for g, lst in enumerate(lists)]
    return torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.98), eps=1e-8)


def _losses(model, inp):
    import torch
    model.eval()
    with torch.no_grad():
        total, r = model.forward_all(inp)
    return [float(total)] + [float(r[k]["loss"]) for k in ("mlm", "mim", "itm")]


def self_test():
    import h5py
    import torch
    import torch.nn.functional as F
    import m3ae_ref as R
    torch.manual_seed(0)
    torch.set_num_threads(1)
    fails = []

    def check(cond, what):
        log(("  ok    " if cond else "  FAIL  ") + what)
        if not cond:
            fails.append(what)

    cfg = dict(R.CONFIGS["tiny"])
    inp = _fixture_inputs(os.path.join(ROOT, "tests", "fixtures", "model_tiny.h5"))
    with tempfile.TemporaryDirectory() as d:
        # 1. an official-like Lightning checkpoint after 3 AdamW steps
        g = torch.Generator().manual_seed(1)
        model = R.M3AE(cfg, drop=0.0)
        R.init_weights(model, generator=g, fan_in_std=True, emb_std=0.5)
        _official_like(model, cfg)
        opt = _official_optimizer(model)
        model.train()
        for _ in range(3):
            opt.zero_grad()
            total, _ = model.forward_all(inp)
            total.backward()
            opt.step()
        ckpt = os.path.join(d, "a.ckpt")
        hp = {"config": {"image_size": 32, "patch_size": 8, "input_image_embed_size": 24, "input_text_embed_size": 40,
                         "hidden_size": 32, "num_heads": 2, "num_top_layer": 2, "mlp_ratio": 4, "vocab_size": 1000,
                         "max_text_len": 16, "mim_layer": 1, "mim_prob": 0.75, "mlm_prob": 0.15, "drop_rate": 0.1,
                         "mim_decoder_hidden_size": 16, "mim_decoder_num_layers": 2, "mim_decoder_num_heads": 2,
                         "vit": "ViT-B/16", "tokenizer": "roberta-base", "learning_rate": 1e-5}}
        torch.save({"epoch": 4, "global_step": 3, "pytorch-lightning_version": "1.3.2",
                    "state_dict": model.state_dict(), "optimizer_states": [opt.state_dict()],
                    "lr_schedulers": [], "hyper_parameters": hp}, ckpt)
        ref_sd = {k: v.clone() for k, v in model.state_dict().items()}
        losses0 = _losses(model, inp)
        log("self-test 1: Lightning .ckpt -> .h5 (with AdamW moments)")
        h5 = os.path.join(d, "a.h5")
        cmd_to_h5(_ns(input=ckpt, out=h5))
        plain = R.M3AE(cfg, drop=0.0).state_dict()
        with h5py.File(h5, "r") as f:
            names = set(f["model"].keys())
            check(names == set(plain), f"/model holds exactly the {len(plain)} reference keys "
                                       f"(got {len(names)}; leftovers/buffer dropped)")
            a = f.attrs
            check(a["format"] == FORMAT and h5py.check_string_dtype(a.get_id("format").dtype).encoding == "utf-8"
                  and h5py.check_string_dtype(a.get_id("format").dtype).length is None,
                  "format attribute is a variable-length UTF-8 string")
            check(all(int(a[k]) == v for k, v in [("format_version", 1), ("step", 3), ("epoch", 4), ("position", 0),
                                                  ("seed", 0), ("world_size", 1), ("has_optimizer", 1)])
                  and a.get_id("step").dtype == np.dtype("<i8"), "integer attributes (int64) and values")
            c, pre = parse_config_text(a["config"])
            check(pre == "tiny" and c == PRESETS["tiny"], f"config attribute = the tiny preset (preset {pre})")
            ok_sets = all(f["model"][k].fletcher32 and f["model"][k].dtype == np.float32 and
                          np.prod(f["model"][k].chunks) * 4 <= 1 << 20 for k in names)
            check(ok_sets, "datasets are float32, chunked <= 1 MiB, fletcher32")
            check(all(np.array_equal(f["model"][k][...], ref_sd[k].numpy()) for k in names),
                  "every /model tensor equals the state_dict bitwise")
            st = opt.state_dict()
            by_name = {}
            pid = {id(p): n for n, p in model.named_parameters()}
            for grp in opt.param_groups:
                for p in grp["params"]:
                    if p in opt.state:
                        by_name[pid[id(p)]] = opt.state[p]
            mom_keys = set(f["optimizer/exp_avg"].keys())
            want = {k for k in plain if gets_gradient(k)}
            check(mom_keys == want and set(f["optimizer/exp_avg_sq"].keys()) == want,
                  f"moments for the {len(want)} tensors m3ae updates (pooler, decoder_pos_embed excluded)")
            same = all(np.array_equal(f["optimizer/exp_avg"][k][...], by_name[k]["exp_avg"].numpy()) and
                       np.array_equal(f["optimizer/exp_avg_sq"][k][...], by_name[k]["exp_avg_sq"].numpy())
                       for k in want if k in by_name)
            check(same and len(by_name) > 200, f"moments equal the AdamW state by name ({len(by_name)} states, "
                                               f"{len(st['state'])} in the state_dict)")
            nz = [k for k in want if k not in by_name]
            check(all(not f["optimizer/exp_avg"][k][...].any() for k in nz),
                  f"tensors without optimizer state get zero moments ({len(nz)})")

        # a tensor without optimizer state gets zero moments; a group of the wrong size is refused
        full = torch.load(ckpt, map_location="cpu", weights_only=False)
        osd = full["optimizer_states"][0]
        names = [n for n, _ in model.named_parameters()]
        lists = [[] for _ in range(6)]
        for n in names:
            lists[official_group(n)].append(n)
        flat = [n for lst in lists for n in lst]
        drop_i = flat.index("itm_head.fc.bias")
        del osd["state"][drop_i]
        torch.save(full, os.path.join(d, "z.ckpt"))
        cmd_to_h5(_ns(input=os.path.join(d, "z.ckpt"), out=os.path.join(d, "z.h5")))
        with h5py.File(os.path.join(d, "z.h5"), "r") as f:
            z = f["optimizer/exp_avg_sq/itm_head.fc.bias"][...]
            w = f["optimizer/exp_avg/itm_head.fc.weight"][...]
            check(int(f.attrs["has_optimizer"]) == 1 and not z.any() and w.any(),
                  "a tensor without optimizer state gets zero moments, the others keep theirs")
        osd["param_groups"][2]["params"] = osd["param_groups"][2]["params"][:-1]
        torch.save(full, os.path.join(d, "y.ckpt"))
        cmd_to_h5(_ns(input=os.path.join(d, "y.ckpt"), out=os.path.join(d, "y.h5")))
        with h5py.File(os.path.join(d, "y.h5"), "r") as f:
            check(int(f.attrs["has_optimizer"]) == 0 and "optimizer" not in f,
                  "a parameter group whose size does not match the rule: moments refused, has_optimizer 0")

        log("self-test 2: .h5 -> Lightning .ckpt -> official structure and reference model (strict) -> forward")
        back = os.path.join(d, "b.ckpt")
        cmd_to_pt(_ns(input=h5, out=back))
        obj = torch.load(back, map_location="cpu", weights_only=False)
        official = R.add_official_extras(R.M3AE(cfg, drop=0.0))
        try:
            official.load_state_dict(obj["state_dict"], strict=True)
            check(list(obj["state_dict"]) == list(official.state_dict()),
                  "load_state_dict(strict=True) into the official structure, keys in the official order")
        except RuntimeError as e:
            check(False, f"load_state_dict(strict=True) into the official structure: {e}")
        ours = os.path.join(d, "b-ours.ckpt")
        cmd_to_pt(_ns(input=h5, out=ours, clip_leftovers=False, position_ids=False))
        fresh = R.M3AE(cfg, drop=0.0)
        try:
            fresh.load_state_dict(torch.load(ours, map_location="cpu", weights_only=False)["state_dict"], strict=True)
            check(True, "--no-clip-leftovers --no-position-ids: load_state_dict(strict=True) into the reference")
        except RuntimeError as e:
            check(False, f"--no-clip-leftovers --no-position-ids: load_state_dict(strict=True): {e}")
        fsd = fresh.state_dict()
        check(all(torch.equal(fsd[k], ref_sd[k]) and fsd[k].dtype == torch.float32 for k in fsd),
              f"all {len(fsd)} tensors bit-identical after .ckpt -> .h5 -> .ckpt")
        check(obj["global_step"] == 3 and obj["epoch"] == 4, "global_step and epoch kept")
        losses1 = _losses(fresh, inp)
        check(losses1 == losses0, f"forward losses identical (total mlm mim itm) {losses0} vs {losses1}")
        # and back again: our own .ckpt -> .h5 gives the same file content and config
        h5b = os.path.join(d, "c.h5")
        cmd_to_h5(_ns(input=back, out=h5b, config_from="base"))
        with h5py.File(h5, "r") as f1, h5py.File(h5b, "r") as f2:
            check(f1.attrs["config"] == f2.attrs["config"] and
                  all(np.array_equal(f1["model"][k][...], f2["model"][k][...]) for k in f1["model"]),
                  ".ckpt written by to-pt converts back to the same tensors and config (m3ae_config wins)")
        # bare state dict with the official buffer
        bare = os.path.join(d, "d.pt")
        cmd_to_pt(_ns(input=h5, out=bare, bare=True, position_ids=True))
        bsd = torch.load(bare, map_location="cpu", weights_only=False)
        check("language_encoder.embeddings.position_ids" in bsd and "state_dict" not in bsd,
              "--bare writes a bare state dict with the position_ids buffer (the default)")
        h5c = os.path.join(d, "e.h5")
        cmd_to_h5(_ns(input=bare, out=h5c))
        with h5py.File(h5c, "r") as f:
            check(int(f.attrs["has_optimizer"]) == 0 and "optimizer" not in f and
                  parse_config_text(f.attrs["config"])[1] == "tiny",
                  "a bare state dict: has_optimizer 0, tiny recognised from the shapes")

        log("self-test 3: resize 32 px -> 40 px")
        h5r = os.path.join(d, "r.h5")
        cmd_to_h5(_ns(input=ckpt, out=h5r, image_size=40))
        key = "vision_encoder.visual.positional_embedding"
        pos = ref_sd[key]
        grid = pos[1:].reshape(4, 4, -1).permute(2, 0, 1)[None]
        direct = F.interpolate(grid, size=(5, 5), mode="bicubic", align_corners=False)[0].permute(1, 2, 0).reshape(25, -1)
        direct = torch.cat([pos[:1], direct]).numpy()
        with h5py.File(h5r, "r") as f:
            got = f["model"][key][...]
            check(got.shape == (26, 24) and np.array_equal(got, direct),
                  "positional embedding = F.interpolate(bicubic, align_corners=False) directly, CLS row kept")
            dpe = f["model/mim_head.decoder_pos_embed"][...]
            check(dpe.shape == (1, 26, 16) and np.array_equal(dpe, sincos_pos_embed(16, 5)),
                  "decoder_pos_embed recomputed for the 5x5 grid")
            c, pre = parse_config_text(f.attrs["config"])
            check(c["image_size"] == 40 and pre == "custom" and int(f.attrs["has_optimizer"]) == 0,
                  "config image_size = 40 (preset custom), no moments")
        back40 = os.path.join(d, "r.ckpt")
        cmd_to_pt(_ns(input=h5r, out=back40))
        cfg40 = dict(cfg, image_size=40)
        m40 = R.add_official_extras(R.M3AE(cfg40, drop=0.0))
        m40.load_state_dict(torch.load(back40, map_location="cpu", weights_only=False)["state_dict"], strict=True)
        inp40 = dict(inp)
        gi = torch.Generator().manual_seed(5)
        for k in ("images", "itm_images"):
            inp40[k] = torch.randn(inp[k].shape[0], 3, 40, 40, generator=gi)
        noise = torch.rand(inp["images"].shape[0], 25, generator=gi)
        inp40["mim_ids_shuffle"] = torch.argsort(noise, dim=1)
        l40 = _losses(m40, inp40)
        check(all(math.isfinite(x) for x in l40), f"the 40 px model loads strictly and runs: losses {l40}")

    if fails:
        log(f"SELF-TEST FAIL: {len(fails)} check(s) failed: " + "; ".join(fails))
        return 1
    log("SELF-TEST PASS")
    return 0


def make_fixture(out):
    """tests/fixtures/converted_tiny.h5: a Lightning .ckpt of the reference tiny model whose parameters
    are those of tests/fixtures/model_tiny.h5 /params, converted with to-h5 (weights only)."""
    import h5py
    import torch
    import m3ae_ref as R
    cfg = dict(R.CONFIGS["tiny"])
    model = R.M3AE(cfg, drop=0.0)
    with h5py.File(os.path.join(ROOT, "tests", "fixtures", "model_tiny.h5"), "r") as f:
        params = {k: torch.from_numpy(f["params"][k][...]) for k in f["params"]}
    model.load_state_dict(params, strict=True)
    _official_like(model, cfg)
    hp = {"config": {"image_size": 32, "patch_size": 8, "input_image_embed_size": 24, "input_text_embed_size": 40,
                     "hidden_size": 32, "num_heads": 2, "num_top_layer": 2, "mlp_ratio": 4, "vocab_size": 1000,
                     "max_text_len": 16, "mim_layer": 1, "mim_prob": 0.75, "mlm_prob": 0.15, "drop_rate": 0.1,
                     "mim_decoder_hidden_size": 16, "mim_decoder_num_layers": 2, "mim_decoder_num_heads": 2}}
    with tempfile.TemporaryDirectory() as d:
        ckpt = os.path.join(d, "tiny.ckpt")
        torch.save({"epoch": 2, "global_step": 1000, "pytorch-lightning_version": "1.3.2",
                    "state_dict": model.state_dict(), "hyper_parameters": hp}, ckpt)
        cmd_to_h5(_ns(input=ckpt, out=out, compact=True))
    with h5py.File(out, "r") as f:
        bad = [k for k in params if not np.array_equal(f["model"][k][...], params[k].numpy())]
    if bad or len(params) != 223:
        raise ConvertError(f"fixture check failed: {bad}")
    log(f"fixture {out}: {os.path.getsize(out):,} bytes, {len(params)} tensors equal to model_tiny.h5 /params")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--self-test", action="store_true", help="round-trip checks on the reference tiny model")
    sub = ap.add_subparsers(dest="cmd")
    a = sub.add_parser("to-h5", aliases=["from-pt"], help="PyTorch (.ckpt/.pt/.bin) -> m3ae .h5")
    a.add_argument("input")
    a.add_argument("--out", required=True)
    a.add_argument("--config-from", default="auto", choices=["auto", "tiny", "small", "base"],
                   help="preset for the keys the shapes cannot give (auto: the preset whose shapes match)")
    a.add_argument("--image-size", type=int, help="resize the CLIP position table to this image size")
    a.add_argument("--step", type=int, help="step attribute (default: global_step of the checkpoint)")
    a.add_argument("--set", action="append", metavar="KEY=VALUE", help="set a configuration key the shapes cannot give")
    a.add_argument("--keep-heads", action="store_true", help="keep vqa_head/cls_head/irtr_head tensors")
    a.add_argument("--no-optimizer", action="store_true", help="do not convert the AdamW moments")
    a.add_argument("--compact", action="store_true",
                   help="HDF5 1.10 object layout: smaller files with many small tensors (needs libhdf5 >= 1.10)")
    b = sub.add_parser("to-pt", help="m3ae .h5 -> PyTorch .ckpt (or a bare state dict) that loads strictly into "
                                     "the official model", description=__doc__[__doc__.index("to-pt\n  Writes"):],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("input")
    b.add_argument("--out", required=True)
    b.add_argument("--bare", action="store_true", help="write the state dict alone")
    b.add_argument("--leftovers-from", metavar="FILE",
                   help="take the 4 CLIP text-tower leftovers from this PyTorch checkpoint (official or CLIP "
                        "names) instead of fixed zeros / identity LayerNorm")
    b.add_argument("--no-clip-leftovers", dest="clip_leftovers", action="store_false",
                   help="leave out the CLIP text-tower leftovers (strict loads then need a model without them)")
    b.add_argument("--no-position-ids", dest="position_ids", action="store_false",
                   help="leave out the RoBERTa embeddings.position_ids buffer")
    b.add_argument("--position-ids", dest="position_ids", action="store_true",
                   help="(the default now; kept for old command lines)")
    c = sub.add_parser("make-fixture", help="write tests/fixtures/converted_tiny.h5")
    c.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "converted_tiny.h5"))
    args = ap.parse_args(argv)
    try:
        if args.self_test:
            return self_test()
        if args.cmd in ("to-h5", "from-pt"):
            return cmd_to_h5(args)
        if args.cmd == "to-pt":
            return cmd_to_pt(args)
        if args.cmd == "make-fixture":
            return make_fixture(args.out)
        ap.print_help()
        return 2
    except ConvertError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
