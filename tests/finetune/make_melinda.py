#!/usr/bin/env python3
"""Writes a format-true synthetic MELINDA release (the official CSV layout: train.csv, dev.csv,
test.csv with the header figure_file,caption,i_meth,p_meth,i_meth_label,p_meth_label, RFC 4180
quoting, and melinda_images/) from `m3ae phantom` scans, whose class is LEARNABLE: p_meth_label is
the scan's body region (Chest, Abdomen, Head), which the caption states and the image shows.

    make_melinda.py PHANTOM_DIR OUT_DIR N_TRAIN N_DEV

Captions get a quoted comma and doubled quotes on some rows, as the real CSVs have. Prints the
class counts of each split as JSON (the test checks the converter and the evaluation against it)."""
import json, os, sys

ph, out, n_train, n_dev = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rows = [json.loads(l) for l in open(os.path.join(ph, "captions.jsonl"))]
assert len(rows) >= n_train + n_dev + 1, "not enough phantoms"
os.makedirs(os.path.join(out, "melinda_images"), exist_ok=True)
REGIONS = {"chest": "Chest", "abdomen": "Abdomen", "head": "Head"}


def region(caption):
    for k, v in REGIONS.items():
        if f" of the {k}" in caption:
            return v
    raise SystemExit(f"no region in {caption!r}")


def csv_field(s):
    return '"' + s.replace('"', '""') + '"' if any(c in s for c in ',"\n') else s


splits = {"train": rows[:n_train], "dev": rows[n_train:n_train + n_dev], "test": rows[n_train + n_dev:]}
counts = {}
for split, rs in splits.items():
    lines = ["figure_file,caption,i_meth,p_meth,i_meth_label,p_meth_label"]
    counts[split] = {}
    for i, r in enumerate(rs):
        name = os.path.basename(r["image"])
        dst = os.path.join(out, "melinda_images", name)
        if not os.path.lexists(dst):
            os.symlink(os.path.abspath(os.path.join(ph, r["image"])), dst)
        cap = r["caption"]
        if i % 3 == 1:
            cap = cap.replace(" of the ", ', of the "scanned" ', 1)  # a quoted comma and doubled quotes
        lab = region(r["caption"])
        counts[split][lab] = counts[split].get(lab, 0) + 1
        mod = "ct" if " CT " in r["caption"] else "mri"
        lines.append(",".join([name, csv_field(cap), mod, "radiology", "Radiology", lab]))
    open(os.path.join(out, f"{split}.csv"), "w").write("\n".join(lines) + "\n")
print(json.dumps(counts))
