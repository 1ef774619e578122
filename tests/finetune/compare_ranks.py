#!/usr/bin/env python3
"""The same global batch on 1 and 2 ranks (dropout off) must give the same training: used by the
fine-tuning rank tests.

    compare_ranks.py W TASK STEP    (runs W/r1 and W/r2; TASK vqa or cls; STEP the last checkpoint)

Every metrics.jsonl line of W/r1 and W/r2 in step: the losses (loss, TASK_loss, val_TASK_loss) within
1e-3 relative, the accuracies (TASK_acc, val_TASK_acc) equal; and the head (TASK_head.0.weight,
.3.weight, .3.bias) of checkpoint STEP within 1e-3 relative to its largest value."""
import json, sys

import h5py
import numpy as np

w, task, step = sys.argv[1], sys.argv[2], int(sys.argv[3])
runs = {n: [json.loads(l) for l in open(f"{w}/r{n}/metrics.jsonl")] for n in (1, 2)}
assert len(runs[1]) == len(runs[2]) and len(runs[1]) >= 4, "different metrics lines"
worst = 0.0
for a, b in zip(runs[1], runs[2]):
    for k in ("loss", f"{task}_loss", f"val_{task}_loss"):
        if k in a:
            d = abs(a[k] - b[k]) / max(1e-6, abs(a[k]))
            worst = max(worst, d)
            assert d < 1e-3, f"step {a.get('step')}, {k}: {b[k]} (2 ranks) vs {a[k]} (1 rank)"
    for k in (f"{task}_acc", f"val_{task}_acc"):
        if k in a:
            assert a[k] == b[k], f"step {a.get('step')}, {k}: {b[k]} vs {a[k]}"
r1 = h5py.File(f"{w}/r1/checkpoints/step_{step:07d}.h5", "r")["model"]
r2 = h5py.File(f"{w}/r2/checkpoints/step_{step:07d}.h5", "r")["model"]
for k in (f"{task}_head.0.weight", f"{task}_head.3.weight", f"{task}_head.3.bias"):
    a, b = r1[k][()], r2[k][()]
    d = np.abs(a - b).max() / np.abs(a).max()
    assert d < 1e-3, f"{k} differs by {d:.2e}"
print(f"1/2 ranks: worst relative loss difference {worst:.2e}")
