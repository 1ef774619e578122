#!/usr/bin/python3
"""Draws the curves of an m3ae run: RUN_DIR/metrics.jsonl -> RUN_DIR/curves.png.

Usage: /usr/bin/python3 tools/plot_metrics.py RUN_DIR [--out PNG] [--title TEXT] [--dpi N]

Four panels against the optimizer step: the losses (total, MLM, MIM, ITM; log scale), the
accuracies (MLM over masked tokens, ITM with its 0.5 chance line), the learning rate, and the
throughput (global samples/s, MFU on the right axis). Training rows are lines, validation rows
(written by `m3ae pretrain` with "split": "val" and val_* fields) are markers. Lines that are not
JSON and values that are missing or not finite are skipped and counted on stderr.
Needs Debian's python3-matplotlib (tools/setup.sh --demo installs it).
"""
import argparse
import json
import math
import os
import sys

# one colour per objective, the same for its training line and its validation markers
OBJECTIVES = [("loss", "total", "black"), ("mlm", "MLM", "tab:blue"), ("mim", "MIM", "tab:red"),
              ("itm", "ITM", "tab:green")]


def read_rows(path):
    """Returns (train rows, val rows, number of unreadable lines) of a metrics.jsonl."""
    train, val, bad = [], [], 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if not isinstance(row, dict) or not finite(row.get("step")):
                bad += 1
                continue
            (val if row.get("split") == "val" else train).append(row)
    return train, val, bad


def finite(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def series(rows, key, scale=1.0):
    """(steps, values) of the rows whose `key` is a finite number."""
    pts = [(r["step"], r[key] * scale) for r in rows if finite(r.get(key))]
    return [p[0] for p in pts], [p[1] for p in pts]


def plot_pair(ax, train, val, key, label, color):
    """Draws the training line of `key` and the validation markers of val_<key> (where present)."""
    xs, ys = series(train, key)
    if xs:
        ax.plot(xs, ys, color=color, lw=1.4, label=f"{label} (train)")
    xs, ys = series(val, "val_" + key)
    if xs:
        ax.plot(xs, ys, color=color, ls="--", marker="o", ms=5, lw=1, label=f"{label} (validation)")


def read_config(run_dir):
    """The `key = value` lines of RUN_DIR/config.cfg (written by `m3ae pretrain`); {} without one."""
    cfg = {}
    try:
        with open(os.path.join(run_dir, "config.cfg"), encoding="utf-8", errors="replace") as f:
            for line in f:
                k, eq, v = line.partition("=")
                if eq:
                    cfg[k.strip()] = v.strip()
    except OSError:
        pass
    return cfg


def draw(train, val, cfg, out, title, dpi):
    # imported here, not at the top: --help and the input errors answer without matplotlib's import
    try:
        import matplotlib
    except ImportError:
        sys.exit("plot_metrics: matplotlib is not installed; run tools/setup.sh --demo (Debian's python3-matplotlib)")
    matplotlib.use("Agg")  # files only: no display on a compute node or in CI
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 8), sharex=True, constrained_layout=True)
    (ax_loss, ax_acc), (ax_lr, ax_speed) = axes

    for key, label, color in OBJECTIVES:  # validation has no total (val_loss), only the terms
        plot_pair(ax_loss, train, val, key if key == "loss" else key + "_loss", label, color)
    ax_loss.axhline(math.log(2), color="tab:green", lw=0.8, ls=":", label="ITM at chance (ln 2)")
    ax_loss.set_yscale("log")
    ax_loss.set_title("Losses (lower is better)")
    ax_loss.set_ylabel("loss (cross-entropy; MIM: MSE of normalised pixels)")

    plot_pair(ax_acc, train, val, "mlm_acc", "MLM: masked tokens right", "tab:blue")
    plot_pair(ax_acc, train, val, "itm_acc", "ITM: match / no match right", "tab:green")
    ax_acc.axhline(0.5, color="tab:green", lw=0.8, ls=":", label="ITM at chance (0.5)")
    ax_acc.set_ylim(0, 1)
    ax_acc.set_title("Accuracies (higher is better)")
    ax_acc.set_ylabel("fraction correct")

    xs, ys = series(train, "lr")
    mult = ""
    if "lr_mult_multi_modal" in cfg and "lr_mult_head" in cfg:
        mult = f"; fusion x{cfg['lr_mult_multi_modal']}, heads x{cfg['lr_mult_head']}"
    ax_lr.plot(xs, ys, color="tab:purple", lw=1.4, label="encoders" + (mult or " (fusion and heads: x multipliers)"))
    ax_lr.set_title("Learning rate (warm-up, then linear decay)")
    ax_lr.set_ylabel("learning rate")
    ax_lr.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))

    xs, ys = series(train, "samples_per_s")
    ax_speed.plot(xs, ys, color="tab:orange", lw=1.4, label="samples/s (all ranks)")
    ax_speed.set_ylim(bottom=0)
    ax_speed.set_title("Throughput")
    ax_speed.set_ylabel("samples per second (all ranks)")
    xs, ys = series(train, "mfu", 100.0)
    if xs:
        ax_mfu = ax_speed.twinx()
        ax_mfu.plot(xs, ys, color="tab:gray", lw=1, ls="--", label="MFU (right axis)")
        ax_mfu.set_ylim(0, max(100.0, max(ys) * 1.1))
        ax_mfu.set_ylabel("model FLOPs utilisation (% of peak)")
        h1, l1 = ax_speed.get_legend_handles_labels()
        h2, l2 = ax_mfu.get_legend_handles_labels()
        ax_speed.legend(h1 + h2, l1 + l2, loc="lower right", fontsize=8)
    else:
        ax_speed.legend(loc="lower right", fontsize=8)

    for ax in (ax_loss, ax_acc, ax_lr):
        ax.legend(fontsize=8, loc="best")
    for ax in axes.flat:
        ax.grid(True, alpha=0.3)
    for ax in (ax_lr, ax_speed):
        ax.set_xlabel("optimizer step")
    fig.suptitle(title)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("run_dir", help="run folder holding metrics.jsonl (or the .jsonl file itself)")
    p.add_argument("--out", help="PNG to write (default RUN_DIR/curves.png)")
    p.add_argument("--title", help="figure title (default: the run folder and its last step)")
    p.add_argument("--dpi", type=int, default=100, help="resolution (default 100: 1200x800 pixels)")
    a = p.parse_args()

    path = a.run_dir if a.run_dir.endswith(".jsonl") else os.path.join(a.run_dir, "metrics.jsonl")
    if not os.path.isfile(path):
        sys.exit(f"plot_metrics: {path} does not exist; give the --out folder of `m3ae pretrain`")
    train, val, bad = read_rows(path)
    if not train:
        sys.exit(f"plot_metrics: {path} holds no training rows (lines with a numeric \"step\")")
    if bad:
        print(f"plot_metrics: skipped {bad} unreadable line(s) of {path}", file=sys.stderr)
    out = a.out or os.path.join(os.path.dirname(path) or ".", "curves.png")
    run_dir = os.path.dirname(path) or "."
    cfg = read_config(run_dir)
    title = a.title or (f"m3ae pretraining of the {cfg.get('preset', '?')} model: {os.path.basename(os.path.abspath(run_dir))}, "
                        f"step {train[-1]['step']:g} of {cfg.get('max_steps', '?')}, seed {cfg.get('seed', '?')}")
    draw(train, val, cfg, out, title, a.dpi)
    print(f"plot_metrics: {out} ({len(train)} training and {len(val)} validation rows)")


if __name__ == "__main__":
    main()
