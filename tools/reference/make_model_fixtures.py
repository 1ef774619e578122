#!/usr/bin/env python3
"""Write the M3AE model fixtures tests/fixtures/model_<name>.h5 (names in FIXTURES): tiny and odd,
and the <pad>-replacement fixtures {tiny,odd}_pad_mim{0,1}, in which an MLM random replacement put
id 1 (<pad>) inside a caption at a labelled position (nn.Embedding(padding_idx=1): rows 1 of the
word and position tables get no gradient there), with mim_layer 0 and the last fusion layer.

Usage (from anywhere; needs `pip install torch h5py numpy`):
    python3 tools/reference/make_model_fixtures.py            # (re)generate every fixture
    python3 tools/reference/make_model_fixtures.py --only tiny_pad_mim0 odd_pad_mim0   # some of them
    python3 tools/reference/make_model_fixtures.py --check    # reload the .h5 files, recompute, compare;
                                                              # + state_dict keys / parameter count check
Format: see tools/reference/FIXTURES.md and /work/helper_model_contract.md.
"""
import argparse
import copy
import os
import random
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import m3ae_ref as R  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
FIXDIR = os.path.join(ROOT, "tests", "fixtures")
GENERATOR = "tools/reference/make_model_fixtures.py (m3ae_ref.py, float64 reference)"

FIXTURES = {
    # name: (config, batch, seed, content lengths of the captions (without <s>, </s>)[, options])
    # options: mim_layer (overrides the config's), pad_replacement (a labelled position inside a
    # caption whose MLM input is <pad>: the draws are retried until the official rule produces one)
    "tiny": ("tiny", 4, 1234, [14, 9, 5, 11]),
    "odd": ("odd", 3, 4321, [11, 2, 7]),
    "tiny_pad_mim0": ("tiny", 4, 2345, [14, 9, 5, 11], dict(mim_layer=0, pad_replacement=True)),
    "tiny_pad_mim1": ("tiny", 4, 3456, [12, 7, 13, 4], dict(mim_layer=1, pad_replacement=True)),
    "odd_pad_mim0": ("odd", 3, 5432, [11, 2, 7], dict(mim_layer=0, pad_replacement=True)),
    "odd_pad_mim1": ("odd", 3, 6543, [9, 2, 10], dict(mim_layer=1, pad_replacement=True)),
}


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------
def make_text(rs, cfg, lengths):
    L, V = cfg["max_text_len"], cfg["vocab_size"]
    ids = np.full((len(lengths), L), R.PAD_ID, dtype=np.int64)
    for b, n in enumerate(lengths):
        assert n + 2 <= L
        ids[b, 0] = R.BOS_ID
        ids[b, 1:1 + n] = rs.randint(4, V - 1, size=n)  # [4, vocab-2]
        ids[b, 1 + n] = R.EOS_ID
    masks = (ids != R.PAD_ID).astype(np.int64)
    return ids, masks


def mlm_mask(rs, cfg, ids):
    """Official rule (DataCollatorForWholeWordMask + RoBERTa): per row, round(L*p) positions drawn
    without replacement among ALL L padded positions; special/pad positions then dropped;
    80% <mask>, 10% random id in [0, vocab-1], 10% unchanged.  Returns (mlm_ids, labels, drawn)."""
    B, L = ids.shape
    V = cfg["vocab_size"]
    mask_id = V - 1
    num = max(1, int(round(L * cfg["mlm_prob"])))
    sel = np.zeros((B, L), dtype=bool)
    drawn = []
    for b in range(B):
        cand = list(range(L))
        rs.shuffle(cand)
        d = sorted(cand[:num])
        drawn.append(d)
        sel[b, d] = True
    special = (ids == R.BOS_ID) | (ids == R.EOS_ID) | (ids == R.PAD_ID)
    sel &= ~special
    labels = np.where(sel, ids, -100).astype(np.int64)
    out = ids.copy()
    repl = (rs.rand(B, L) < 0.8) & sel
    out[repl] = mask_id
    rnd = (rs.rand(B, L) < 0.5) & sel & ~repl
    out[rnd] = rs.randint(0, V, size=(B, L))[rnd]
    return out, labels, drawn


def make_image(rs, cfg, B):
    """Smooth-ish random images in [0,1], then CLIP-normalised; float32 (B,3,H,W)."""
    H = cfg["image_size"]
    yy, xx = np.meshgrid(np.linspace(0, 1, H), np.linspace(0, 1, H), indexing="ij")
    img = np.empty((B, 3, H, H))
    for b in range(B):
        for c in range(3):
            f = rs.uniform(1, 6, size=2)
            ph = rs.uniform(0, 2 * np.pi, size=2)
            base = 0.5 + 0.25 * np.sin(f[0] * np.pi * yy + ph[0]) * np.cos(f[1] * np.pi * xx + ph[1])
            img[b, c] = np.clip(base + 0.2 * rs.rand(H, H), 0, 1)
    mean = np.array(R.CLIP_MEAN)[None, :, None, None]
    std = np.array(R.CLIP_STD)[None, :, None, None]
    return ((img - mean) / std).astype(np.float32)


def make_inputs(name):
    cfgname, B, seed, lengths = FIXTURES[name][:4]
    opts = FIXTURES[name][4] if len(FIXTURES[name]) > 4 else {}
    cfg = dict(R.CONFIGS[cfgname])
    if "mim_layer" in opts:
        assert 0 <= opts["mim_layer"] < cfg["num_top_layer"]
        cfg["mim_layer"] = opts["mim_layer"]
    L = cfg["max_text_len"]
    # a random replacement draws <pad> with probability 0.1/vocab per label: many more attempts
    attempts = 1000000 if opts.get("pad_replacement") else 1000
    # retry the MLM draw (deterministically) until the fixture exercises what it should
    for attempt in range(attempts):
        rs = np.random.RandomState(seed + 7919 * attempt)
        ids, masks = make_text(rs, cfg, lengths)
        mlm_ids, labels, drawn = mlm_mask(rs, cfg, ids)
        n_lab = int((labels != -100).sum())
        ok = n_lab >= 3 and bool((mlm_ids == cfg["vocab_size"] - 1).any())
        sel = labels != -100
        n_rnd = int((sel & (mlm_ids != cfg["vocab_size"] - 1) & (mlm_ids != ids)).sum())
        n_same = int((sel & (mlm_ids == ids)).sum())
        if name == "tiny":  # exercise all three replacement kinds
            ok = ok and n_rnd >= 1 and n_same >= 1
        if name == "odd":
            short = int(np.argmin(lengths))
            ok = ok and any(ids[short, p] == R.PAD_ID for p in drawn[short])
            ok = ok and bool((masks == 0).any(axis=1).sum() >= 2)
        if opts.get("pad_replacement"):
            ok = ok and bool((sel & (mlm_ids == R.PAD_ID) & (masks == 1)).any())
        if ok:
            break
    else:
        raise RuntimeError("could not draw a suitable MLM mask")
    images = make_image(rs, cfg, B)
    false_images = make_image(rs, cfg, B)
    N = R.num_patches(cfg)
    noise = rs.rand(B, N).astype(np.float32)
    ids_shuffle = np.argsort(noise, axis=1, kind="stable").astype(np.int64)
    pos = B // 2
    itm_labels = np.concatenate([np.ones(pos), np.zeros(B - pos)]).astype(np.int64)[rs.permutation(B)]
    itm_images = np.where(itm_labels[:, None, None, None] == 1, images, false_images).astype(np.float32)
    inp = dict(images=images, text_ids=ids, text_masks=masks, mlm_ids=mlm_ids, mlm_labels=labels,
               mim_noise=noise, mim_ids_shuffle=ids_shuffle, itm_labels=itm_labels,
               itm_images=itm_images)
    info = dict(seed=seed + 7919 * attempt, drawn=drawn, n_labels=n_lab, mim_layer=cfg["mim_layer"],
                pad_replaced=[tuple(int(v) for v in x) for x in
                              np.argwhere((labels != -100) & (mlm_ids == R.PAD_ID) & (masks == 1))])
    return cfg, B, inp, info


# --------------------------------------------------------------------------------------------
# running the reference
# --------------------------------------------------------------------------------------------
def build_model(cfg, seed):
    torch.manual_seed(seed)
    m = R.M3AE(cfg, drop=0.0)
    g = torch.Generator().manual_seed(seed)
    R.init_weights(m, std=0.02, nontrivial=True, generator=g, fan_in_std=True, emb_std=0.5)
    m.eval()
    return m


def to_torch(inp, dtype):
    out = {}
    for k, v in inp.items():
        t = torch.from_numpy(np.ascontiguousarray(v))
        out[k] = t.to(dtype) if t.is_floating_point() else t
    return out


OUT_NAMES = {
    "mlm": ["mlm_logits"],
    "mim": ["mim_pred", "mim_target", "mim_mask"],
    "itm": ["itm_logits"],
}


def run(model32, inp, dtype):
    """Copy of model in `dtype`; forward all passes, backward total.  Returns numpy dicts."""
    m = copy.deepcopy(model32).to(dtype)
    m.eval()
    for p in m.parameters():
        p.grad = None
    t = to_torch(inp, dtype)
    total, passes = m.forward_all(t)
    total.backward()
    cfg = m.cfg
    outs = {}
    for pname, r in passes.items():
        d = {"vision_embeds": r["vision_embeds"], "text_embeds": r["text_embeds"],
             "cls_feats": r["cls_feats"]}
        for i in range(cfg["num_top_layer"]):
            d[f"fusion_text_{i}"] = r[f"fusion_text_{i}"]
            d[f"fusion_image_{i}"] = r[f"fusion_image_{i}"]
        for n in OUT_NAMES[pname]:
            d[n] = r[n]
        outs[pname] = {k: v.detach().double().numpy() for k, v in d.items()}
    losses = {k: float(passes[k]["loss"].detach()) for k in ("mlm", "mim", "itm")}
    losses["total"] = float(total.detach())
    grads = {}
    for k, p in m.named_parameters():
        if not p.requires_grad:
            continue
        g = p.grad
        grads[k] = np.zeros(tuple(p.shape)) if g is None else g.detach().double().numpy()
    return outs, losses, grads


def analytically_zero(key):
    """Gradients that are exactly zero in exact arithmetic: BERT-style attention key biases
    (softmax is invariant to the per-query constant q.b_k) and the unused RoBERTa pooler.
    Stored as exact zeros with attribute analytically_zero=1."""
    return key.endswith(".self.key.bias") or key.startswith("language_encoder.pooler.")


def put(f, name, data):
    """gzip+shuffle for anything non-trivial (system libhdf5 has the deflate filter)."""
    data = np.asarray(data)
    if data.size >= 8192:
        return f.create_dataset(name, data=data, compression="gzip", compression_opts=9,
                                shuffle=True)
    return f.create_dataset(name, data=data)


def rel(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    den = np.abs(b).max()
    num = np.abs(a - b).max()
    if den == 0:
        return float(num)
    return float(num / den)


def pos_resize(W, seed):
    g = torch.Generator().manual_seed(seed)
    grid = 4
    pin = (torch.randn(1 + grid * grid, W, generator=g) * W ** -0.5).float()
    outs = {}
    for h in (5, 7, 3):
        x = pin.double()[1:].reshape(grid, grid, W).permute(2, 0, 1)[None]  # (1,W,g,g)
        y = F.interpolate(x, size=(h, h), mode="bicubic", align_corners=False)
        y = y[0].permute(1, 2, 0).reshape(h * h, W)
        outs[h] = torch.cat([pin.double()[:1], y], dim=0).float().numpy()
    return pin.numpy(), outs


# --------------------------------------------------------------------------------------------
# writing / checking
# --------------------------------------------------------------------------------------------
def generate(name, report):
    import h5py
    cfg, B, inp, info = make_inputs(name)
    seed = info["seed"]
    model = build_model(cfg, seed)
    o64, l64, g64 = run(model, inp, torch.float64)
    o32, l32, g32 = run(model, inp, torch.float32)
    diffs = {}
    gmax = max(float(np.abs(v).max()) for v in g64.values())
    for k in g64:
        if analytically_zero(k):
            g64[k] = np.zeros_like(g64[k])
    for p in o64:
        for k in o64[p]:
            diffs[f"outputs/{p}/{k}"] = rel(o32[p][k], o64[p][k])
    for k in l64:
        diffs[f"losses/{k}"] = rel(l32[k], l64[k])
    for k in g64:
        if analytically_zero(k):  # absolute float32 value relative to the largest gradient
            diffs[f"grads/{k}"] = float(np.abs(g32[k]).max()) / gmax
        else:
            diffs[f"grads/{k}"] = rel(g32[k], g64[k])
    path = os.path.join(FIXDIR, f"model_{name}.h5")
    os.makedirs(FIXDIR, exist_ok=True)
    with h5py.File(path, "w") as f:
        for k in R.CONFIG_KEYS:
            v = cfg[k]
            if k == "drop_rate":
                v = 0.0  # dropout off in fixtures
            f.attrs[k] = np.float64(v) if isinstance(v, float) else np.int64(v)
        f.attrs["batch"] = np.int64(B)
        f.attrs["seed"] = np.int64(seed)
        f.attrs["generator"] = np.bytes_(GENERATOR)  # fixed-length ASCII string
        for k, v in model.state_dict().items():
            put(f, f"params/{k}", v.detach().float().numpy())
        for k, v in inp.items():
            put(f, f"inputs/{k}", v)
        for p in o64:
            for k, v in o64[p].items():
                put(f, f"outputs/{p}/{k}", v.astype(np.float32))
        for k, v in l64.items():
            f.create_dataset(f"losses/{k}", data=np.float64(v))
        for k, v in g64.items():
            d = put(f, f"grads/{k}", v.astype(np.float32))
            if analytically_zero(k):
                d.attrs["analytically_zero"] = np.int64(1)
        pin, pouts = pos_resize(cfg["vision_width"], seed + 1)
        f.create_dataset("extra/pos_resize/in", data=pin)
        for h, v in pouts.items():
            f.create_dataset(f"extra/pos_resize/out_{h}", data=v)
    report.append((name, path, os.path.getsize(path), info, l64, diffs))
    return path


def check_file(name):
    """Reload the fixture, recompute the float64 reference from the STORED params/inputs, compare."""
    import h5py
    path = os.path.join(FIXDIR, f"model_{name}.h5")
    bad = 0
    with h5py.File(path, "r") as f:
        cfg = {k: (float(f.attrs[k]) if isinstance(R.CONFIGS["tiny"][k], float) else int(f.attrs[k]))
               for k in R.CONFIG_KEYS}
        assert cfg["drop_rate"] == 0.0
        model = R.M3AE(cfg, drop=0.0)
        sd = {k: torch.from_numpy(f[f"params/{k}"][()]) for k in model.state_dict()}
        extra = set(f["params"].keys()) if False else None  # noqa: F841 (groups are nested)
        model.load_state_dict(sd, strict=True)
        model.eval()
        inp = {k: f[f"inputs/{k}"][()] for k in f["inputs"].keys()}
        # inputs consistency
        assert (np.argsort(inp["mim_noise"], axis=1, kind="stable") == inp["mim_ids_shuffle"]).all()
        assert ((inp["text_ids"] != R.PAD_ID).astype(np.int64) == inp["text_masks"]).all()
        lab = inp["mlm_labels"]
        assert ((lab == -100) | (lab == inp["text_ids"])).all()
        assert (inp["mlm_ids"][lab == -100] == inp["text_ids"][lab == -100]).all()
        opts = FIXTURES[name][4] if len(FIXTURES[name]) > 4 else {}
        if "mim_layer" in opts:
            assert cfg["mim_layer"] == opts["mim_layer"], (cfg["mim_layer"], opts)
        if opts.get("pad_replacement"):
            assert ((lab != -100) & (inp["mlm_ids"] == R.PAD_ID) & (inp["text_masks"] == 1)).any()
        for k in ("word_embeddings", "position_embeddings"):  # padding_idx = 1: row 1 never learns
            assert not f[f"grads/language_encoder.embeddings.{k}.weight"][R.PAD_ID].any(), k
        o, l, g = run(model, inp, torch.float64)
        worst = 0.0
        for p in o:
            for k, v in o[p].items():
                e = rel(f[f"outputs/{p}/{k}"][()], v)
                worst = max(worst, e)
                if e > 1e-6:
                    print(f"  MISMATCH outputs/{p}/{k} rel {e:.3e}")
                    bad += 1
        for k, v in l.items():
            e = abs(float(f[f"losses/{k}"][()]) - v) / max(abs(v), 1e-30)
            worst = max(worst, e)
            if e > 1e-12:
                print(f"  MISMATCH losses/{k} rel {e:.3e}")
                bad += 1
        gkeys = set()
        f["grads"].visit(lambda n: gkeys.add(n) if isinstance(f["grads"][n], h5py.Dataset) else None)
        if gkeys != set(g.keys()):
            print(f"  MISMATCH grads key sets: {sorted(gkeys ^ set(g.keys()))[:5]}")
            bad += 1
        for k, v in g.items():
            ref = f[f"grads/{k}"][()]
            if analytically_zero(k):
                e = 0.0 if (ref == 0).all() and np.abs(v).max() < 1e-15 else 1.0
            else:
                e = rel(ref, v)
            worst = max(worst, e)
            if e > 1e-6:
                print(f"  MISMATCH grads/{k} rel {e:.3e}")
                bad += 1
        pin = f["extra/pos_resize/in"][()]
        gin = 4
        for h in (5, 7, 3):
            x = torch.from_numpy(pin).double()[1:].reshape(gin, gin, -1).permute(2, 0, 1)[None]
            y = F.interpolate(x, size=(h, h), mode="bicubic", align_corners=False)
            y = torch.cat([torch.from_numpy(pin).double()[:1], y[0].permute(1, 2, 0).reshape(h * h, -1)])
            e = rel(f[f"extra/pos_resize/out_{h}"][()], y.numpy())
            if e > 1e-6:
                print(f"  MISMATCH extra/pos_resize/out_{h} rel {e:.3e}")
                bad += 1
        print(f"check {path}: {'OK' if bad == 0 else f'{bad} MISMATCHES'} "
              f"(worst rel vs recomputed float64: {worst:.2e}; losses {l})")
    return bad


def official_keys(cfg):
    """Spec section 5 key list, written out independently of the model code (no CLIP text
    leftovers, no embeddings.position_ids buffer)."""
    keys = []
    v = "vision_encoder.visual."
    keys += [v + "conv1.weight", v + "class_embedding", v + "positional_embedding",
             v + "ln_pre.weight", v + "ln_pre.bias", v + "ln_post.weight", v + "ln_post.bias"]

    def clip_blocks(prefix, n):
        out = []
        for i in range(n):
            b = f"{prefix}resblocks.{i}."
            out += [b + "attn.in_proj_weight", b + "attn.in_proj_bias", b + "attn.out_proj.weight",
                    b + "attn.out_proj.bias", b + "ln_1.weight", b + "ln_1.bias", b + "ln_2.weight",
                    b + "ln_2.bias", b + "mlp.c_fc.weight", b + "mlp.c_fc.bias",
                    b + "mlp.c_proj.weight", b + "mlp.c_proj.bias"]
        return out

    def wb(p):
        return [p + ".weight", p + ".bias"]

    keys += clip_blocks(v + "transformer.", cfg["vision_layers"])
    e = "language_encoder.embeddings."
    keys += [e + "word_embeddings.weight", e + "position_embeddings.weight",
             e + "token_type_embeddings.weight"] + wb(e + "LayerNorm")
    for i in range(cfg["text_layers"]):
        b = f"language_encoder.encoder.layer.{i}."
        for s in ("query", "key", "value"):
            keys += wb(b + "attention.self." + s)
        keys += wb(b + "attention.output.dense") + wb(b + "attention.output.LayerNorm")
        keys += wb(b + "intermediate.dense") + wb(b + "output.dense") + wb(b + "output.LayerNorm")
    keys += wb("language_encoder.pooler.dense")
    keys += wb("multi_modal_language_proj") + wb("multi_modal_vision_proj")
    keys += ["modality_type_embeddings.weight"]
    for stream in ("language", "vision"):
        for i in range(cfg["num_top_layer"]):
            b = f"multi_modal_{stream}_layers.{i}."
            for att in ("attention", "crossattention"):
                for s in ("query", "key", "value"):
                    keys += wb(f"{b}{att}.self.{s}")
                keys += wb(f"{b}{att}.output.dense") + wb(f"{b}{att}.output.LayerNorm")
            keys += wb(b + "intermediate.dense") + wb(b + "output.dense") + wb(b + "output.LayerNorm")
        keys += wb(f"multi_modal_{stream}_pooler.dense")
    keys += wb("mlm_head.transform.dense") + wb("mlm_head.transform.LayerNorm")
    keys += ["mlm_head.decoder.weight", "mlm_head.bias"]
    keys += ["mim_head.mask_token", "mim_head.decoder_pos_embed"] + wb("mim_head.decoder_embed")
    keys += clip_blocks("mim_head.decoder.", cfg["mim_decoder_num_layers"])
    keys += wb("mim_head.decoder_norm") + wb("mim_head.decoder_pred")
    keys += wb("itm_head.fc")
    return keys


def check_keys():
    cfg = R.CONFIGS["base"]
    with torch.device("meta"):
        m = R.M3AE(cfg)
    sd = m.state_dict()
    want = official_keys(cfg)
    ok = True
    if set(sd.keys()) != set(want) or len(want) != len(set(want)):
        ok = False
        print("  key mismatch: extra", sorted(set(sd) - set(want))[:10],
              "missing", sorted(set(want) - set(sd))[:10])
    shapes = {
        "vision_encoder.visual.conv1.weight": (768, 3, 16, 16),
        "vision_encoder.visual.positional_embedding": (325, 768),
        "vision_encoder.visual.transformer.resblocks.10.attn.in_proj_weight": (2304, 768),
        "language_encoder.embeddings.word_embeddings.weight": (50265, 768),
        "language_encoder.embeddings.position_embeddings.weight": (514, 768),
        "language_encoder.embeddings.token_type_embeddings.weight": (1, 768),
        "language_encoder.encoder.layer.11.intermediate.dense.weight": (3072, 768),
        "multi_modal_vision_layers.5.crossattention.self.key.weight": (768, 768),
        "mlm_head.decoder.weight": (50265, 768), "mlm_head.bias": (50265,),
        "mim_head.mask_token": (1, 1, 384), "mim_head.decoder_pos_embed": (1, 325, 384),
        "mim_head.decoder_embed.weight": (384, 768),
        "mim_head.decoder.resblocks.3.attn.in_proj_weight": (1152, 384),
        "mim_head.decoder.resblocks.3.mlp.c_fc.weight": (1536, 384),
        "mim_head.decoder_pred.weight": (768, 384), "itm_head.fc.weight": (2, 1536),
    }
    for k, s in shapes.items():
        if tuple(sd[k].shape) != s:
            ok = False
            print(f"  shape mismatch {k}: {tuple(sd[k].shape)} != {s}")
    n = R.param_count(m)
    expect = 78809856 + 124645632 + 113421312 + 2363904 + 39245913 + 7814784 + 3074
    if n != expect:
        ok = False
    print(f"check base state_dict: {len(sd)} keys {'==' if ok else '!='} spec section 5; "
          f"params {n:,} (spec 1.8 sum {expect:,})")
    # decoder_pos_embed: column-first sin-cos, zero CLS row
    pe = R.sincos_2d_pos_embed(384, 18)
    i, j = 5, 11
    om = 1.0 / 10000 ** (np.arange(96) / 96.0)
    want_row = np.concatenate([np.sin(j * om), np.cos(j * om), np.sin(i * om), np.cos(i * om)])
    if not (np.allclose(pe[1 + i * 18 + j], want_row, atol=0, rtol=0) and not pe[0].any()):
        ok = False
        print("  decoder_pos_embed layout mismatch")
    return 0 if ok else 1


def check_pieces():
    """Independent checks of pieces against torch built-ins / explicit loops."""
    bad = 0
    torch.manual_seed(0)
    # CLIP attention == nn.MultiheadAttention with the same parameters (float64)
    W, H, T, B = 24, 2, 7, 3
    mine = R.ClipAttention(W, H).double()
    with torch.no_grad():
        mine.in_proj_bias.normal_()
        mine.out_proj.bias.normal_()
    ref = torch.nn.MultiheadAttention(W, H).double()
    ref.load_state_dict(mine.state_dict())
    x = torch.randn(B, T, W, dtype=torch.float64)
    y_ref = ref(x.transpose(0, 1), x.transpose(0, 1), x.transpose(0, 1), need_weights=False)[0]
    e = rel(mine(x).detach().numpy(), y_ref.transpose(0, 1).detach().numpy())
    if e > 1e-12:
        bad += 1
        print(f"  ClipAttention vs nn.MultiheadAttention rel {e:.2e}")
    # BERT attention == F.scaled_dot_product_attention with an additive mask
    sa = R.BertSelfAttention(W, H, 0.0).double()
    m01 = torch.ones(B, T, dtype=torch.long)
    m01[1, 4:] = 0
    madd = R.additive_mask(m01, torch.float64)
    q = sa.query(x).view(B, T, H, W // H).transpose(1, 2)
    k = sa.key(x).view(B, T, H, W // H).transpose(1, 2)
    v = sa.value(x).view(B, T, H, W // H).transpose(1, 2)
    o = F.scaled_dot_product_attention(q, k, v, attn_mask=madd).transpose(1, 2).reshape(B, T, W)
    e = rel(sa(x, madd).detach().numpy(), o.detach().numpy())
    if e > 1e-12:
        bad += 1
        print(f"  BertSelfAttention vs scaled_dot_product_attention rel {e:.2e}")
    # patchify order (row p, col q, channel c), channel fastest
    cfg = R.CONFIGS["odd"]
    m = R.M3AE(cfg, drop=0.0)
    img = torch.randn(2, 3, 40, 40)
    pt = m.patchify(img)
    P, g = 8, 5
    for (b, i, j, p, qq, c) in [(0, 0, 0, 0, 0, 0), (1, 2, 3, 5, 7, 2), (1, 4, 1, 3, 0, 1)]:
        if pt[b, i * g + j, (p * P + qq) * 3 + c] != img[b, c, i * P + p, j * P + qq]:
            bad += 1
            print("  patchify order mismatch")
    # RoBERTa position ids from padding
    ids = torch.tensor([[0, 55, 66, 2, 1, 1]])
    nonpad = (ids != R.PAD_ID).long()
    pos = torch.cumsum(nonpad, 1) * nonpad + R.PAD_ID
    if pos.tolist() != [[2, 3, 4, 5, 1, 1]]:
        bad += 1
        print("  position ids", pos.tolist())
    print(f"check pieces (MHA, SDPA, patchify, position ids): {'OK' if bad == 0 else 'FAILED'}")
    return bad


def write_report(report):
    for name, path, size, info, losses, diffs in report:
        print(f"wrote {path} ({size / 1e6:.2f} MB) seed={info['seed']} mlm labels={info['n_labels']} "
              f"drawn={info['drawn']} mim_layer={info['mim_layer']} "
              f"<pad> replacements (sample, position)={info['pad_replaced']}")
        print("  losses (float64): " + " ".join(f"{k}={v:.10f}" for k, v in losses.items()))
        groups = {}
        for k, e in diffs.items():
            grp = k.split("/")[0]
            groups.setdefault(grp, []).append((e, k))
        for grp, lst in groups.items():
            lst.sort(reverse=True)
            print(f"  float32 vs float64 max rel ({grp}): worst {lst[0][0]:.2e} [{lst[0][1]}], "
                  f"median {lst[len(lst) // 2][0]:.2e}")
        for k in sorted(diffs):
            if not k.startswith("grads/"):
                print(f"    {k}: {diffs[k]:.2e}")
        gl = sorted(((e, k) for k, e in diffs.items() if k.startswith("grads/")), reverse=True)
        for e, k in gl[:8]:
            print(f"    {k}: {e:.2e}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="reload and verify the committed fixtures")
    ap.add_argument("--only", nargs="+", choices=sorted(FIXTURES), help="generate these fixtures only")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.check:
        bad = check_keys() + check_pieces()
        for name in FIXTURES:
            bad += check_file(name)
        sys.exit(1 if bad else 0)
    report = []
    for name in (a.only if a.only else FIXTURES):
        generate(name, report)
    write_report(report)


if __name__ == "__main__":
    random.seed(0)
    main()
