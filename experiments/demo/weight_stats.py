#!/usr/bin/python3
"""How far the ITM path's weights moved from their initialisation in an m3ae checkpoint.

Usage: /usr/bin/python3 experiments/demo/weight_stats.py CHECKPOINT.h5 [...]
Prints, per checkpoint, the standard deviation of the tensors that only the ITM loss trains (the
ITM head, the two multi-modal poolers, the last vision fusion layer: the MIM decoder reads the
vision stream before it, mim_layer = 1) next to fusion tensors that MLM/MIM also train. All of them
start at std 0.02 (normal(0, 0.02), the official init); a tensor whose std is still ~0.02 after
hundreds of Adam steps has received only noise.
"""
import sys

import h5py

TENSORS = [
    ("ITM only", "itm_head.fc.weight"),
    ("ITM only", "multi_modal_language_pooler.dense.weight"),
    ("ITM only", "multi_modal_vision_pooler.dense.weight"),
    ("ITM only", "multi_modal_vision_layers.1.attention.self.query.weight"),
    ("ITM only", "multi_modal_vision_layers.1.crossattention.self.query.weight"),
    ("ITM only", "multi_modal_vision_layers.1.intermediate.dense.weight"),
    ("MLM+ITM", "multi_modal_language_layers.1.crossattention.self.query.weight"),
    ("MLM+ITM", "multi_modal_language_layers.1.intermediate.dense.weight"),
    ("MIM+MLM+ITM", "multi_modal_vision_layers.0.crossattention.self.query.weight"),
    ("MIM+MLM+ITM", "multi_modal_vision_layers.0.intermediate.dense.weight"),
]


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(sys.argv) >= 2 else 2
    for path in sys.argv[1:]:
        with h5py.File(path, "r") as f:
            step = f.attrs.get("step", "?")
            print(f"{path} (step {step})")
            for who, name in TENSORS:
                key = "model/" + name
                if key not in f:
                    print(f"  {name}: missing")
                    continue
                print(f"  {who:12s} {name:64s} std {f[key][()].std():.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
