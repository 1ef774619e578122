#!/usr/bin/env python3
"""Write tests/fixtures/vqa_tiny.h5: the VQA fine-tuning pass of the PyTorch reference (m3ae_ref.py)
with the official downstream head (spec 1.6, m3ae_module.py):

    vqa_head = Sequential(Linear(2H, 2H), LayerNorm(2H, eps=1e-5), GELU(erf), Linear(2H, n_labels))
    logits = vqa_head(cls_feats)          # cls_feats of the unmasked question + the full image
    loss = BCEWithLogits(logits, one-hot targets) * n_labels   (mean over B * n, times n)

on the inputs of the `tiny` model fixture (its text, images and seed), labels with one unseen
answer (-1: an all-zero target). Stored like the model fixtures (FIXTURES.md): root attributes of
the configuration, params/ (the backbone and heads of make_model_fixtures.py's tiny model plus
vqa_head.{0,1,3}.*), inputs/{images,text_ids,text_masks,vqa_labels}, and the float64 reference:
vqa/logits, vqa/loss, vqa/cls_feats and vqa/grads/<every trainable parameter>.

    python3 tools/reference/make_vqa_fixture.py            # writes the file (~1 s)
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

N_LABELS = 5
LABELS = [3, -1, 0, 4]  # one per sample of the tiny fixture (B = 4)
GENERATOR = "tools/reference/make_vqa_fixture.py (m3ae_ref.py, float64 reference)"


def vqa_head(hidden2, n, seed):
    """The official head, initialised far from trivial (as the model fixtures: fan-in weights,
    0.1 biases, LayerNorm 1 + 0.1 randn) so that every term of its backward is visible."""
    head = nn.Sequential(nn.Linear(hidden2, hidden2), nn.LayerNorm(hidden2, eps=1e-5), nn.GELU(),
                         nn.Linear(hidden2, n))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in head:
            if isinstance(m, nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * m.weight.shape[1] ** -0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
            elif isinstance(m, nn.LayerNorm):
                m.weight.copy_(1 + 0.1 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
    return head


def run(model, head, inp, labels, dtype):
    m, h = copy.deepcopy(model).to(dtype), copy.deepcopy(head).to(dtype)
    t = MF.to_torch(inp, dtype)
    r = m.infer(t["text_ids"], t["text_masks"], t["images"])
    logits = h(r["cls_feats"])
    target = torch.zeros_like(logits)
    for i, y in enumerate(labels):
        if y >= 0:
            target[i, y] = 1
    loss = F.binary_cross_entropy_with_logits(logits, target) * logits.shape[1]
    loss.backward()
    grads = {}
    for prefix, mod in (("", m), ("vqa_head.", h)):
        for k, p in mod.named_parameters():
            if p.requires_grad:
                grads[prefix + k] = (np.zeros(tuple(p.shape)) if p.grad is None else p.grad.detach().double().numpy())
    return logits.detach().double().numpy(), float(loss.detach()), r["cls_feats"].detach().double().numpy(), grads


def main():
    import h5py
    cfg, B, inp, info = MF.make_inputs("tiny")
    assert B == len(LABELS)
    seed = info["seed"]
    model = MF.build_model(cfg, seed)
    head = vqa_head(2 * cfg["hidden_size"], N_LABELS, seed + 17)
    l64, loss64, cls64, g64 = run(model, head, inp, LABELS, torch.float64)
    l32, loss32, _, _ = run(model, head, inp, LABELS, torch.float32)
    for k in g64:
        if MF.analytically_zero(k):
            g64[k] = np.zeros_like(g64[k])
    path = os.path.join(MF.FIXDIR, "vqa_tiny.h5")
    with h5py.File(path, "w") as f:
        for k in R.CONFIG_KEYS:
            v = 0.0 if k == "drop_rate" else cfg[k]
            f.attrs[k] = np.float64(v) if isinstance(v, float) else np.int64(v)
        f.attrs["batch"] = np.int64(B)
        f.attrs["vqa_labels"] = np.int64(N_LABELS)
        f.attrs["seed"] = np.int64(seed)
        f.attrs["generator"] = np.bytes_(GENERATOR)
        for k, v in model.state_dict().items():
            MF.put(f, f"params/{k}", v.detach().float().numpy())
        for k, v in head.state_dict().items():
            MF.put(f, f"params/vqa_head.{k}", v.detach().float().numpy())
        for k in ("images", "text_ids", "text_masks"):
            MF.put(f, f"inputs/{k}", inp[k])
        f.create_dataset("inputs/vqa_labels", data=np.array(LABELS, dtype=np.int64))
        MF.put(f, "vqa/logits", l64.astype(np.float32))
        MF.put(f, "vqa/cls_feats", cls64.astype(np.float32))
        f.create_dataset("vqa/loss", data=np.float64(loss64))
        for k, v in g64.items():
            d = MF.put(f, f"vqa/grads/{k}", v.astype(np.float32))
            if MF.analytically_zero(k):
                d.attrs["analytically_zero"] = np.int64(1)
    print(f"wrote {path}: loss {loss64:.9f} (float32 {loss32:.9f}), logits rel float32 {MF.rel(l32, l64):.2e}, "
          f"{len(g64)} gradients, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
