#!/usr/bin/python3
"""Writes the transfer experiment's table (experiments/transfer/results/table.md) from the JSON files
that `m3ae evaluate --task vqa --json` wrote (results/<arm>_seed<N>.json), plus the majority-answer
baselines computed from the prepared folders' targets.jsonl. Standard library only (Debian python3).

  summarize.py --results DIR --train VQARAD_TRAIN_DIR --heldout VQARAD_HELDOUT_DIR [--out FILE]

Per arm (pretrained, scratch): the mean and the sample standard deviation over seeds, and the
minimum and maximum, of overall / open / closed accuracy (in %), and n. Baselines, on the same
held-out questions (an answer outside the training vocabulary counts as wrong, as in evaluate):
  majority          the most frequent training answer for every question;
  majority by type  the most frequent training answer of the question's answer type (closed / open),
                    which knows the answer type, so it is an upper bound for a prior-only model.
"""
import argparse
import collections
import glob
import json
import math
import os
import re
import sys

METRICS = ("overall", "open", "closed")


def read_targets(folder):
    path = os.path.join(folder, "targets.jsonl")
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def majority(train, heldout):
    """The two baselines' accuracies (fractions) on heldout, from the training answers."""
    def top(rows):
        c = collections.Counter(r["label"] for r in rows if r["label"] >= 0)
        return c.most_common(1)[0][0]

    overall_top = top(train)
    by_type = {t: top([r for r in train if r["answer_type"] == t]) for t in ("open", "closed")}
    names = {r["label"]: r["label_name"] for r in train}

    def score(pred_of):
        hit = collections.Counter()
        cnt = collections.Counter()
        for r in heldout:
            ok = pred_of(r) in r["labels"]
            for key in ("overall", r["answer_type"]):
                cnt[key] += 1
                hit[key] += ok
        return {k: hit[k] / cnt[k] for k in METRICS}, cnt

    a, cnt = score(lambda r: overall_top)
    b, _ = score(lambda r: by_type[r["answer_type"]])
    desc_a = "'%s' for every question" % names[overall_top]
    desc_b = "'%s' (closed), '%s' (open)" % (names[by_type["closed"]], names[by_type["open"]])
    return (a, desc_a), (b, desc_b), cnt


def stats(values):
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else float("nan")
    return mean, sd, min(values), max(values)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", required=True, help="folder of <arm>_seed<N>.json and times.txt")
    ap.add_argument("--train", required=True, help="the prepared VQA-RAD training folder")
    ap.add_argument("--heldout", required=True, help="the prepared VQA-RAD held-out folder")
    ap.add_argument("--out", help="table file (default: RESULTS/table.md)")
    a = ap.parse_args()
    out = a.out or os.path.join(a.results, "table.md")

    runs = collections.defaultdict(dict)
    for path in sorted(glob.glob(os.path.join(a.results, "*_seed*.json"))):
        m = re.fullmatch(r"(\w+?)_seed(\d+)\.json", os.path.basename(path))
        if not m:
            continue
        with open(path, encoding="utf-8") as f:
            r = json.load(f)
        for k in METRICS + ("n",):
            if k not in r:
                sys.exit("summarize.py: %s has no '%s' (not an m3ae evaluate --task vqa --json file)" % (path, k))
        runs[m.group(1)][int(m.group(2))] = r
    if not runs:
        sys.exit("summarize.py: no <arm>_seed<N>.json in %s (run experiments/transfer/run.sh)" % a.results)

    times = {}
    tpath = os.path.join(a.results, "times.txt")
    if os.path.exists(tpath):
        with open(tpath, encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2:
                    times[parts[0]] = int(parts[1])  # the last line of a name wins (a resumed run)

    train, heldout = read_targets(a.train), read_targets(a.heldout)
    (maj, maj_desc), (typ, typ_desc), cnt = majority(train, heldout)
    unseen = sum(1 for r in heldout if not r["labels"])

    lines = []
    lines.append("Held-out VQA-RAD questions: %d (%d open, %d closed) on images not in the training part; "
                 "%d (%.1f %%) have an answer outside the training vocabulary and count as wrong for every "
                 "model, so 100 %% is out of reach." % (cnt["overall"], cnt["open"], cnt["closed"], unseen,
                                                       100.0 * unseen / cnt["overall"]))
    lines.append("")
    lines.append("Accuracy in %: mean ± sample standard deviation over the seeds [min, max].")
    lines.append("")
    lines.append("| initialisation | seeds | overall | open | closed | n |")
    lines.append("|---|---|---|---|---|---|")
    for arm in sorted(runs, key=lambda s: (s != "pretrained", s)):
        rs = runs[arm]
        cells = []
        for k in METRICS:
            mean, sd, lo, hi = stats([100.0 * rs[s][k] for s in sorted(rs)])
            cells.append("%.1f ± %.1f [%.1f, %.1f]" % (mean, sd, lo, hi))
        ns = sorted({int(rs[s]["n"]) for s in rs})
        label = {"pretrained": "MedPix pretraining (--init-from)", "scratch": "random (no --init-from)"}.get(arm, arm)
        lines.append("| %s | %s | %s | %s |" % (label, " ".join(str(s) for s in sorted(rs)), " | ".join(cells),
                                              "/".join(str(n) for n in ns)))
    for name, r, desc in (("majority answer", maj, maj_desc), ("majority answer per answer type", typ, typ_desc)):
        lines.append("| %s: %s | - | %s | %d |" % (name, desc, " | ".join("%.1f" % (100.0 * r[k]) for k in METRICS),
                                                   cnt["overall"]))
    lines.append("")
    lines.append("Per run (accuracy in %, training and evaluation wall time in s):")
    lines.append("")
    lines.append("| run | overall | open | closed | n | fine-tune s | evaluate s |")
    lines.append("|---|---|---|---|---|---|---|")
    for arm in sorted(runs, key=lambda s: (s != "pretrained", s)):
        for s in sorted(runs[arm]):
            r = runs[arm][s]
            name = "%s_seed%d" % (arm, s)
            lines.append("| %s | %s | %d | %s | %s |" % (
                name, " | ".join("%.1f" % (100.0 * r[k]) for k in METRICS), int(r["n"]),
                times.get(name, "?"), times.get("eval_" + name, "?")))
    if "pretrain" in times:
        lines.append("")
        lines.append("Pretraining wall time: %d s." % times["pretrain"])
    text = "\n".join(lines) + "\n"
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
