#!/usr/bin/env python3
"""Time one M3AE training step of the PyTorch reference (tools/reference/m3ae_ref.py).

A step = MLM pass + MIM pass + ITM pass forward, total loss backward (no optimizer, nothing else),
float32, dropout on (train mode), random inputs, after warm-up.

    python3 experiments/bench/pytorch_step.py --config small --batch 8 --threads 2 [--steps 5]
prints one line:
    pytorch config=small batch=8 threads=2 ms/step=... samples/s=...
Needs `pip install torch numpy`.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools",
                                "reference"))
import m3ae_ref as R  # noqa: E402


def random_inputs(cfg, B, g):
    L, V, H = cfg["max_text_len"], cfg["vocab_size"], cfg["image_size"]
    N = R.num_patches(cfg)
    ids = torch.randint(4, V - 1, (B, L), generator=g)
    lengths = torch.randint(L // 2, L - 1, (B,), generator=g)
    for b in range(B):
        n = int(lengths[b])
        ids[b, 0] = R.BOS_ID
        ids[b, n + 1] = R.EOS_ID
        ids[b, n + 2:] = R.PAD_ID
    masks = (ids != R.PAD_ID).long()
    sel = (torch.rand(B, L, generator=g) < cfg["mlm_prob"]) & (masks == 1)
    sel[:, 0] = False
    sel[:, 1] = True  # at least one label per row
    labels = torch.where(sel, ids, torch.full_like(ids, -100))
    mlm_ids = torch.where(sel, torch.full_like(ids, V - 1), ids)
    noise = torch.rand(B, N, generator=g)
    itm_labels = torch.cat([torch.ones(B // 2), torch.zeros(B - B // 2)]).long()
    itm_labels = itm_labels[torch.randperm(B, generator=g)]
    images = torch.randn(B, 3, H, H, generator=g)
    false_images = torch.randn(B, 3, H, H, generator=g)
    itm_images = torch.where(itm_labels[:, None, None, None] == 1, images, false_images)
    return dict(images=images, text_ids=ids, text_masks=masks, mlm_ids=mlm_ids, mlm_labels=labels,
                mim_ids_shuffle=torch.argsort(noise, dim=1), itm_labels=itm_labels,
                itm_images=itm_images)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="small", choices=sorted(R.CONFIGS))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = R.CONFIGS[a.config]
    model = R.M3AE(cfg)  # dropout = cfg drop_rate
    R.init_weights(model, std=0.02, nontrivial=False, generator=torch.Generator().manual_seed(0))
    model.train()
    inp = random_inputs(cfg, a.batch, torch.Generator().manual_seed(1))

    def step():
        for p in model.parameters():
            p.grad = None
        total, _ = model.forward_all(inp)
        total.backward()
        return float(total.detach())

    for _ in range(a.warmup):
        step()
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    ms = 1000.0 * float(np.median(times))
    print(f"pytorch config={a.config} batch={a.batch} threads={a.threads} ms/step={ms:.1f} "
          f"samples/s={a.batch / (ms / 1000.0):.2f}")


if __name__ == "__main__":
    main()
