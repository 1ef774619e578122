#!/usr/bin/env python3
"""Write tests/fixtures/irtr_tiny.h5: the retrieval fine-tuning pass of the PyTorch reference
(m3ae_ref.py) with the official irtr head and loss (spec 1.6, 4.3; objectives.py compute_irtr):

    irtr_head = Linear(2H, 1)
    for every image: its positive caption and K-1 other captions (the positive at index 0);
    the image is expanded to its K pairs (official: img.unsqueeze(1).expand(...)),
    score = irtr_head(cls_feats).view(n_images, K)
    loss = cross_entropy(score, zeros(n_images))        # mean over the images

with the itm_head frozen (requires_grad False: its gradient is zero). On the inputs of the `tiny`
model fixture: 2 images and K = 3 candidates drawn from its 4 texts. Stored like the model fixtures
(FIXTURES.md): root attributes of the configuration, params/ (the tiny model of
make_model_fixtures.py plus irtr_head.*), inputs/{images (2), text_ids, text_masks (6 pairs)},
attribute candidates, and the float64 reference: irtr/scores (6), irtr/loss, irtr/cls_feats and
irtr/grads/<every trainable parameter> (itm_head.* zero).

    python3 tools/reference/make_irtr_fixture.py            # writes the file (~1 s)
"""
import copy
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import m3ae_ref as R  # noqa: E402
import make_model_fixtures as MF  # noqa: E402

K = 3
IMAGES = [0, 1]                    # the fixture images used
TEXTS = [[0, 2, 3], [1, 3, 0]]     # the candidates of each image, positive first
GENERATOR = "tools/reference/make_irtr_fixture.py (m3ae_ref.py, float64 reference)"


def irtr_head(hidden2, seed):
    """Linear(2H, 1) far from trivial (fan-in weights, a 0.1 bias); not the ITM row, so that a model
    scoring with the wrong head fails."""
    head = nn.Linear(hidden2, 1)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        head.weight.copy_(torch.randn(head.weight.shape, generator=g) * hidden2 ** -0.5)
        head.bias.copy_(torch.randn(head.bias.shape, generator=g) * 0.1)
    return head


def zero_grad(name):
    """The model fixtures' analytically zero gradients, and the irtr_head bias: a shift of all K
    scores of an image leaves its softmax unchanged, so d loss / d bias = sum(softmax - onehot) = 0
    (float64 leaves ~1e-17, which would make a relative comparison meaningless)."""
    return MF.analytically_zero(name) or name == "irtr_head.bias"


def pair_inputs(inp):
    rows = [t for cand in TEXTS for t in cand]
    return {"images": inp["images"][IMAGES], "text_ids": inp["text_ids"][rows], "text_masks": inp["text_masks"][rows]}


def run(model, head, pin, dtype):
    m, h = copy.deepcopy(model).to(dtype), copy.deepcopy(head).to(dtype)
    for p in m.itm_head.parameters():  # frozen as the official (m3ae_module.py:138-144)
        p.requires_grad_(False)
    t = MF.to_torch(pin, dtype)
    n = t["images"].shape[0]
    images = t["images"].unsqueeze(1).expand(n, K, *t["images"].shape[1:]).reshape(n * K, *t["images"].shape[1:])
    r = m.infer(t["text_ids"], t["text_masks"], images)
    score = h(r["cls_feats"])[:, 0].view(n, K)
    loss = F.cross_entropy(score, torch.zeros(n, dtype=torch.long))
    loss.backward()
    grads = {}
    for prefix, mod in (("", m), ("irtr_head.", h)):
        for k, p in mod.named_parameters():
            if p.requires_grad or k.startswith("itm_head."):
                grads[prefix + k] = (np.zeros(tuple(p.shape)) if p.grad is None else p.grad.detach().double().numpy())
    return score.detach().double().numpy().reshape(-1), float(loss.detach()), r["cls_feats"].detach().double().numpy(), grads


def main():
    import h5py
    cfg, B, inp, info = MF.make_inputs("tiny")
    seed = info["seed"]
    model = MF.build_model(cfg, seed)
    head = irtr_head(2 * cfg["hidden_size"], seed + 29)
    pin = pair_inputs(inp)
    s64, loss64, cls64, g64 = run(model, head, pin, torch.float64)
    s32, loss32, _, _ = run(model, head, pin, torch.float32)
    for k in g64:
        if zero_grad(k):
            g64[k] = np.zeros_like(g64[k])
    path = os.path.join(MF.FIXDIR, "irtr_tiny.h5")
    with h5py.File(path, "w") as f:
        for k in R.CONFIG_KEYS:
            v = 0.0 if k == "drop_rate" else cfg[k]
            f.attrs[k] = np.float64(v) if isinstance(v, float) else np.int64(v)
        f.attrs["batch"] = np.int64(len(IMAGES) * K)
        f.attrs["candidates"] = np.int64(K)
        f.attrs["seed"] = np.int64(seed)
        f.attrs["generator"] = np.bytes_(GENERATOR)
        for k, v in model.state_dict().items():
            MF.put(f, f"params/{k}", v.detach().float().numpy())
        for k, v in head.state_dict().items():
            MF.put(f, f"params/irtr_head.{k}", v.detach().float().numpy())
        for k in ("images", "text_ids", "text_masks"):
            MF.put(f, f"inputs/{k}", pin[k])
        MF.put(f, "irtr/scores", s64.astype(np.float32))
        MF.put(f, "irtr/cls_feats", cls64.astype(np.float32))
        f.create_dataset("irtr/loss", data=np.float64(loss64))
        for k, v in g64.items():
            d = MF.put(f, f"irtr/grads/{k}", v.astype(np.float32))
            if zero_grad(k):
                d.attrs["analytically_zero"] = np.int64(1)
    print(f"wrote {path}: loss {loss64:.9f} (float32 {loss32:.9f}), scores rel float32 {MF.rel(s32, s64):.2e}, "
          f"{len(g64)} gradients, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
