#!/usr/bin/env python3
"""Write the fixtures of the downstream classifier heads from the PyTorch reference (m3ae_ref.py)
with the official heads (spec 1.6, m3ae_module.py; the same Sequential for both):

    head = Sequential(Linear(2H, 2H), LayerNorm(2H, eps=1e-5), GELU(erf), Linear(2H, n_labels))
    logits = head(cls_feats)          # cls_feats of the unmasked text + the full image

  tests/fixtures/vqa_tiny.h5  vqa_head, loss = BCEWithLogits(logits, one-hot targets) * n_labels
                              (mean over B * n, times n; objectives.py compute_vqa), labels with one
                              unseen answer (-1: an all-zero target)
  tests/fixtures/cls_tiny.h5  cls_head, loss = F.cross_entropy(logits, labels) (mean over the batch;
                              objectives.py compute_cls), 7 classes as MELINDA p_meth_label

on the inputs of the `tiny` model fixture (its text, images and seed). Stored like the model
fixtures (FIXTURES.md): root attributes of the configuration, params/ (the backbone and heads of
make_model_fixtures.py's tiny model plus <task>_head.{0,1,3}.*), inputs/{images,text_ids,text_masks,
<task>_labels}, and the float64 reference: <task>/logits, <task>/loss, <task>/cls_feats and
<task>/grads/<every trainable parameter>.

    python3 tools/reference/make_vqa_fixture.py            # writes both files (~2 s)
    python3 tools/reference/make_vqa_fixture.py --only cls # one of them
"""
import argparse
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

GENERATOR = "tools/reference/make_vqa_fixture.py (m3ae_ref.py, float64 reference)"


def vqa_loss(logits, labels):
    """Official compute_vqa: BCEWithLogits against one-hot scores (label -1: all zero) times n."""
    target = torch.zeros_like(logits)
    for i, y in enumerate(labels):
        if y >= 0:
            target[i, y] = 1
    return F.binary_cross_entropy_with_logits(logits, target) * logits.shape[1]


def cls_loss(logits, labels):
    """Official compute_cls: softmax cross-entropy, the mean over the batch."""
    return F.cross_entropy(logits, torch.tensor(labels, dtype=torch.long))


# task: (labels of the head, one label per sample of the tiny fixture (B = 4), loss, head seed offset)
TASKS = {
    "vqa": (5, [3, -1, 0, 4], vqa_loss, 17),
    "cls": (7, [6, 0, 2, 2], cls_loss, 29),
}


def classifier_head(hidden2, n, seed):
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


def run(model, head, inp, labels, loss_fn, task, dtype):
    m, h = copy.deepcopy(model).to(dtype), copy.deepcopy(head).to(dtype)
    t = MF.to_torch(inp, dtype)
    r = m.infer(t["text_ids"], t["text_masks"], t["images"])
    logits = h(r["cls_feats"])
    loss = loss_fn(logits, labels)
    loss.backward()
    grads = {}
    for prefix, mod in (("", m), (f"{task}_head.", h)):
        for k, p in mod.named_parameters():
            if p.requires_grad:
                grads[prefix + k] = (np.zeros(tuple(p.shape)) if p.grad is None else p.grad.detach().double().numpy())
    return logits.detach().double().numpy(), float(loss.detach()), r["cls_feats"].detach().double().numpy(), grads


def write(task):
    import h5py
    n_labels, labels, loss_fn, head_seed = TASKS[task]
    cfg, B, inp, info = MF.make_inputs("tiny")
    assert B == len(labels)
    seed = info["seed"]
    model = MF.build_model(cfg, seed)
    head = classifier_head(2 * cfg["hidden_size"], n_labels, seed + head_seed)
    l64, loss64, cls64, g64 = run(model, head, inp, labels, loss_fn, task, torch.float64)
    l32, loss32, _, _ = run(model, head, inp, labels, loss_fn, task, torch.float32)
    for k in g64:
        if MF.analytically_zero(k):
            g64[k] = np.zeros_like(g64[k])
    path = os.path.join(MF.FIXDIR, f"{task}_tiny.h5")
    with h5py.File(path, "w") as f:
        for k in R.CONFIG_KEYS:
            v = 0.0 if k == "drop_rate" else cfg[k]
            f.attrs[k] = np.float64(v) if isinstance(v, float) else np.int64(v)
        f.attrs["batch"] = np.int64(B)
        f.attrs[f"{task}_labels"] = np.int64(n_labels)
        f.attrs["seed"] = np.int64(seed)
        f.attrs["generator"] = np.bytes_(GENERATOR)
        for k, v in model.state_dict().items():
            MF.put(f, f"params/{k}", v.detach().float().numpy())
        for k, v in head.state_dict().items():
            MF.put(f, f"params/{task}_head.{k}", v.detach().float().numpy())
        for k in ("images", "text_ids", "text_masks"):
            MF.put(f, f"inputs/{k}", inp[k])
        f.create_dataset(f"inputs/{task}_labels", data=np.array(labels, dtype=np.int64))
        MF.put(f, f"{task}/logits", l64.astype(np.float32))
        MF.put(f, f"{task}/cls_feats", cls64.astype(np.float32))
        f.create_dataset(f"{task}/loss", data=np.float64(loss64))
        for k, v in g64.items():
            d = MF.put(f, f"{task}/grads/{k}", v.astype(np.float32))
            if MF.analytically_zero(k):
                d.attrs["analytically_zero"] = np.int64(1)
    print(f"wrote {path}: loss {loss64:.9f} (float32 {loss32:.9f}), logits rel float32 {MF.rel(l32, l64):.2e}, "
          f"{len(g64)} gradients, {os.path.getsize(path)} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=sorted(TASKS), nargs="+", help="write only these fixtures")
    for task in ap.parse_args().only or sorted(TASKS):
        write(task)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
