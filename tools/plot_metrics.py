#!/usr/bin/env python3
"""Draw the loss and accuracy curves of an m3ae run.

Usage:
    python3 tools/plot_metrics.py RUN_DIR [--out PNG] [--backend auto|pil|matplotlib] [--smooth S]
                                  [--log-loss auto|on|off] [--width W --height H]

Reads RUN_DIR/metrics.jsonl (one JSON object per line; RUN_DIR may also be the .jsonl file itself) and
writes RUN_DIR/curves.png (or --out) with two panels:
  * losses: loss, mlm_loss, mim_loss, itm_loss, then any other *_loss field; validation values dashed
    with markers;
  * accuracies: mlm_acc, itm_acc, then any other *_acc field; validation values dashed with markers.
Validation lines carry "split": "val"; their fields are plotted as val_<name> (a field that already
starts with val_ keeps its name). The x axis is "step" (the line number when a line has none). Missing
fields, non-numeric or non-finite values and unparsable lines are skipped (the number is reported).
The loss axis is logarithmic when the losses span more than 20x (--log-loss). A header line gives the last step, the last losses, the learning rate and the median samples/s.

Backends: matplotlib when it is installed, else Pillow (Debian's python3-pil is enough: the Pillow
renderer draws the charts itself). --backend pil forces Pillow.
Training curves with more than 100 points are drawn raw (light) and smoothed (an exponential moving
average, --smooth 0.9 by default; --smooth 0 turns it off).
"""
import argparse
import json
import math
import os
import statistics
import sys

# colour per objective; validation series use the same colour, dashed
COLORS = {"total": (20, 20, 20), "mlm": (31, 119, 180), "mim": (214, 39, 40), "itm": (44, 160, 44)}
OTHER_COLORS = [(148, 103, 189), (255, 127, 14), (140, 86, 75), (227, 119, 194), (127, 127, 127),
                (188, 189, 34), (23, 190, 207)]
LOSS_ORDER = ["loss", "mlm_loss", "mim_loss", "itm_loss"]
ACC_ORDER = ["mlm_acc", "itm_acc"]
NOT_SERIES = {"step", "split", "epoch", "time", "elapsed", "wall", "lr", "samples_per_s", "tokens_per_s"}


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------
def read_metrics(path):
    """Returns ({series name: [(step, value)]}, header info dict, number of skipped lines/values)."""
    series, info = {}, {"lr": [], "samples_per_s": [], "last_step": None}
    bad_lines = bad_values = 0
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                bad_lines += 1
                continue
            if not isinstance(rec, dict):
                bad_lines += 1
                continue
            step = number(rec.get("step"))
            if step is None:
                step = float(lineno)
            val = str(rec.get("split", "train")).lower() in ("val", "valid", "validation", "eval", "test")
            for k, v in rec.items():
                if k in NOT_SERIES or not isinstance(k, str):
                    continue
                if not (k.endswith("loss") or k.endswith("acc") or k.endswith("accuracy")):
                    continue
                x = number(v)
                if x is None:
                    bad_values += 1
                    continue
                name = k if (not val or k.startswith("val_")) else "val_" + k
                series.setdefault(name, []).append((step, x))
            if not val:
                info["last_step"] = step if info["last_step"] is None else max(info["last_step"], step)
                for k in ("lr", "samples_per_s"):
                    x = number(rec.get(k))
                    if x is not None:
                        info[k].append((step, x))
    for pts in series.values():
        pts.sort(key=lambda p: p[0])
    return series, info, bad_lines, bad_values


def number(v):
    if isinstance(v, bool) or v is None:
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def split_panels(series):
    def order(names, first):
        train = [n for n in first if n in names] + sorted(n for n in names if n not in first and not n.startswith("val_"))
        val = []
        for n in train:
            if "val_" + n in names:
                val.append("val_" + n)
        val += sorted(n for n in names if n.startswith("val_") and n not in val)
        return train + val

    losses = [n for n in series if n.endswith("loss")]
    accs = [n for n in series if n.endswith("acc") or n.endswith("accuracy")]
    return order(losses, LOSS_ORDER), order(accs, ACC_ORDER)


def color_of(name, others):
    base = name[4:] if name.startswith("val_") else name
    if base in ("loss", "total_loss"):
        return COLORS["total"]
    for k in ("mlm", "mim", "itm"):
        if base.startswith(k):
            return COLORS[k]
    if base not in others:
        others[base] = OTHER_COLORS[len(others) % len(OTHER_COLORS)]
    return others[base]


def label_of(name):
    val = name.startswith("val_")
    base = name[4:] if val else name
    nice = {"loss": "total loss", "mlm_loss": "MLM loss", "mim_loss": "MIM loss", "itm_loss": "ITM loss",
            "mlm_acc": "MLM acc", "itm_acc": "ITM acc"}.get(base, base.replace("_", " "))
    return ("val " if val else "") + nice


def ema(values, s):
    out, m = [], None
    for v in values:
        m = v if m is None else s * m + (1 - s) * v
        out.append(m)
    return out


def fmt_num(x):
    a = abs(x)
    if a >= 1e6:
        return f"{x / 1e6:g}M"
    if a >= 1e4:
        return f"{x / 1e3:g}k"
    if a == 0:
        return "0"
    if a < 1e-3:
        return f"{x:.0e}"
    return f"{x:g}"


def nice_ticks(lo, hi, n=6, integer=False):
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    if integer:
        step = max(1, round(step))
    start = math.ceil(lo / step - 1e-9) * step
    ticks, t = [], start
    while t <= hi + 1e-9 * step:
        ticks.append(round(t, 12))
        t += step
    return ticks


def header_text(run, info, series):
    parts = [os.path.basename(os.path.abspath(run))]
    if info["last_step"] is not None:
        parts.append(f"step {fmt_num(info['last_step'])}")
    for n in LOSS_ORDER:
        if n in series:
            parts.append(f"{label_of(n)} {series[n][-1][1]:.4g}")
    if info["lr"]:
        parts.append(f"lr {info['lr'][-1][1]:.3g}")
    if info["samples_per_s"]:
        parts.append(f"{statistics.median(v for _, v in info['samples_per_s']):.4g} samples/s (median)")
    return "   ".join(parts)


# --------------------------------------------------------------------------------------------
# the Pillow renderer
# --------------------------------------------------------------------------------------------
def load_font(size):
    from PIL import ImageFont
    for p in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans.ttf",
              "/usr/share/fonts/dejavu/DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(p, size)
        except (OSError, IOError):
            continue
    return ImageFont.load_default()


def text_size(draw, text, font):
    b = draw.textbbox((0, 0), text, font=font)
    return b[2] - b[0], b[3] - b[1]


def dashed(draw, pts, fill, width, dash, gap):
    """Polyline with a dash pattern continuing across vertices."""
    on, left = True, dash
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        seg = math.hypot(x1 - x0, y1 - y0)
        pos = 0.0
        while pos < seg:
            step = min(left, seg - pos)
            if on:
                a, b = pos / seg, (pos + step) / seg
                draw.line([(x0 + (x1 - x0) * a, y0 + (y1 - y0) * a), (x0 + (x1 - x0) * b, y0 + (y1 - y0) * b)],
                          fill=fill, width=width)
            pos += step
            left -= step
            if left <= 1e-9:
                on = not on
                left = dash if on else gap


def lighten(c, f=0.6):
    return tuple(int(v + (255 - v) * f) for v in c)


def draw_panel(draw, box, title, names, series, smooth, log_y, is_acc, fonts, S):
    x0, y0, x1, y1 = box
    f_title, f_tick, f_leg = fonts
    tw, th = text_size(draw, title, f_title)
    draw.text((x0 + (x1 - x0 - tw) / 2, y0), title, fill=(0, 0, 0), font=f_title)
    # plot area
    left, right, top, bottom = x0 + 90 * S, x1 - 20 * S, y0 + th + 16 * S, y1 - 50 * S
    pts_all = [p for n in names for p in series[n]]
    if log_y:
        pts_all = [p for p in pts_all if p[1] > 0]
    if not pts_all:
        draw.rectangle([left, top, right, bottom], outline=(0, 0, 0), width=S)
        msg = "no data"
        w, h = text_size(draw, msg, f_tick)
        draw.text(((left + right - w) / 2, (top + bottom - h) / 2), msg, fill=(120, 120, 120), font=f_tick)
        return
    xs = [p[0] for p in pts_all]
    ys = [p[1] for p in pts_all]
    xlo, xhi = min(xs), max(xs)
    if xhi == xlo:
        xlo, xhi = xlo - 1, xhi + 1
    if is_acc and min(ys) >= -0.05 and max(ys) <= 1:
        ylo, yhi = min(0.0, min(ys)), 1.0
    elif is_acc and min(ys) >= -5 and max(ys) <= 100 and max(ys) > 1:
        ylo, yhi = min(0.0, min(ys)), 100.0
    else:
        ylo, yhi = min(ys), max(ys)
        if log_y:
            ylo, yhi = math.log10(ylo), math.log10(yhi)
        pad = (yhi - ylo) * 0.05 or (abs(yhi) * 0.1 or 1.0)
        ylo, yhi = ylo - pad, yhi + pad
        if not log_y and min(ys) >= 0 and ylo < 0:
            ylo = 0.0

    def X(x):
        return left + (x - xlo) / (xhi - xlo) * (right - left)

    def Y(y):
        if log_y:
            y = math.log10(y)
        return bottom - (y - ylo) / (yhi - ylo) * (bottom - top)

    # grid and ticks
    grid = (225, 225, 225)
    if log_y:
        yt = [10 ** e for e in range(math.floor(ylo), math.ceil(yhi) + 1)]
        sub = [m * 10 ** e for e in range(math.floor(ylo), math.ceil(yhi) + 1) for m in (2, 5)]
        yt = sorted(t for t in yt + sub if ylo <= math.log10(t) <= yhi)
    else:
        yt = [t for t in nice_ticks(ylo, yhi) if ylo - 1e-12 <= t <= yhi + 1e-12]
    for t in yt:
        y = Y(t)
        draw.line([(left, y), (right, y)], fill=grid, width=S)
        s = fmt_num(t)
        w, h = text_size(draw, s, f_tick)
        draw.text((left - w - 8 * S, y - h / 2 - 2 * S), s, fill=(60, 60, 60), font=f_tick)
    for t in nice_ticks(xlo, xhi, 8, integer=all(float(x).is_integer() for x in xs)):
        if t < xlo or t > xhi:
            continue
        x = X(t)
        draw.line([(x, top), (x, bottom)], fill=grid, width=S)
        s = fmt_num(t)
        w, h = text_size(draw, s, f_tick)
        draw.text((x - w / 2, bottom + 8 * S), s, fill=(60, 60, 60), font=f_tick)
    w, h = text_size(draw, "step", f_tick)
    draw.text(((left + right - w) / 2, bottom + 26 * S), "step", fill=(0, 0, 0), font=f_tick)
    draw.rectangle([left, top, right, bottom], outline=(0, 0, 0), width=S)

    # series
    others, legend = {}, []
    for n in names:
        pts = [p for p in series[n] if not log_y or p[1] > 0]
        if not pts:
            continue
        c = color_of(n, others)
        xy = [(X(x), Y(y)) for x, y in pts]
        if n.startswith("val_"):
            if len(xy) > 1:
                dashed(draw, xy, c, 2 * S, 9 * S, 6 * S)
            r = 4 * S
            for x, y in xy:
                draw.ellipse([x - r, y - r, x + r, y + r], fill=c, outline=(255, 255, 255))
        else:
            if smooth > 0 and len(pts) > 100:
                if len(xy) > 1:
                    draw.line(xy, fill=lighten(c), width=S)
                sm = ema([p[1] for p in pts], smooth)
                xy = [(X(x), Y(y)) for (x, _), y in zip(pts, sm)]
            if len(xy) > 1:
                draw.line(xy, fill=c, width=2 * S, joint="curve")
            else:
                r = 4 * S
                draw.ellipse([xy[0][0] - r, xy[0][1] - r, xy[0][0] + r, xy[0][1] + r], fill=c)
        legend.append((label_of(n), c, n.startswith("val_")))

    # legend (top right, inside the plot)
    if legend:
        lw = max(text_size(draw, s, f_leg)[0] for s, _, _ in legend) + 48 * S
        lh = text_size(draw, "Ag", f_leg)[1] + 8 * S
        bx1, by0 = right - 10 * S, top + 10 * S
        bx0, by1 = bx1 - lw, by0 + lh * len(legend) + 8 * S
        draw.rectangle([bx0, by0, bx1, by1], fill=(255, 255, 255), outline=(160, 160, 160), width=S)
        for i, (s, c, val) in enumerate(legend):
            y = by0 + 6 * S + i * lh + lh / 2
            if val:
                dashed(draw, [(bx0 + 8 * S, y), (bx0 + 34 * S, y)], c, 2 * S, 6 * S, 4 * S)
                draw.ellipse([bx0 + 21 * S - 3 * S, y - 3 * S, bx0 + 21 * S + 3 * S, y + 3 * S], fill=c)
            else:
                draw.line([(bx0 + 8 * S, y), (bx0 + 34 * S, y)], fill=c, width=3 * S)
            draw.text((bx0 + 40 * S, y - lh / 2 + 2 * S), s, fill=(0, 0, 0), font=f_leg)


def render_pil(out, title, series, loss_names, acc_names, smooth, log_loss, width, height):
    from PIL import Image, ImageDraw
    S = 2  # draw at twice the size, then downsample: smooth lines with plain ImageDraw
    img = Image.new("RGB", (width * S, height * S), (255, 255, 255))
    d = ImageDraw.Draw(img)
    fonts = (load_font(17 * S), load_font(13 * S), load_font(13 * S))
    head_font = load_font(14 * S)
    w, h = text_size(d, title, head_font)
    d.text(((width * S - w) / 2, 10 * S), title, fill=(0, 0, 0), font=head_font)
    top = 10 * S + h + 14 * S
    mid = top + (height * S - top) // 2
    draw_panel(d, (10 * S, top, width * S - 10 * S, mid - 6 * S), "losses" + (" (log scale)" if log_loss else ""),
               loss_names, series, smooth, log_loss, False, fonts, S)
    draw_panel(d, (10 * S, mid + 6 * S, width * S - 10 * S, height * S - 6 * S), "accuracies", acc_names, series,
               smooth, False, True, fonts, S)
    img = img.resize((width, height), Image.LANCZOS)
    img.save(out)


# --------------------------------------------------------------------------------------------
# the matplotlib renderer
# --------------------------------------------------------------------------------------------
def render_mpl(out, title, series, loss_names, acc_names, smooth, log_loss, width, height):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 1, figsize=(width / 100, height / 100), dpi=100, sharex=False)
    fig.suptitle(title, fontsize=10)
    for ax, names, ptitle, is_acc in ((axes[0], loss_names, "losses", False), (axes[1], acc_names, "accuracies", True)):
        ax.set_title(ptitle)
        others = {}
        for n in names:
            pts = series[n]
            c = tuple(v / 255 for v in color_of(n, others))
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            if n.startswith("val_"):
                ax.plot(xs, ys, "--o", color=c, label=label_of(n), markersize=4)
            elif smooth > 0 and len(pts) > 100:
                ax.plot(xs, ys, color=tuple(v / 255 for v in lighten(color_of(n, others))), linewidth=0.8)
                ax.plot(xs, ema(ys, smooth), color=c, label=label_of(n), linewidth=1.6)
            else:
                ax.plot(xs, ys, color=c, label=label_of(n), linewidth=1.6, marker="o" if len(pts) == 1 else None)
        if not names:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="gray")
        if log_loss and not is_acc and names:
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.grid(True, color="#e1e1e1")
        if names:
            ax.legend(loc="upper right", fontsize=9)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Draw loss and accuracy curves of an m3ae run (RUN_DIR/metrics.jsonl).")
    ap.add_argument("run", metavar="RUN_DIR", help="run folder (or its metrics.jsonl)")
    ap.add_argument("--out", help="PNG to write (default RUN_DIR/curves.png)")
    ap.add_argument("--backend", choices=["auto", "pil", "matplotlib"], default="auto")
    ap.add_argument("--smooth", type=float, default=0.9, help="EMA factor for training curves of > 100 points (0: off)")
    ap.add_argument("--log-loss", choices=["auto", "on", "off"], default="auto",
                    help="logarithmic loss axis (auto: when the losses span more than 20x)")
    ap.add_argument("--width", type=int, default=1200)
    ap.add_argument("--height", type=int, default=900)
    a = ap.parse_args(argv)
    path = a.run if os.path.isfile(a.run) else os.path.join(a.run, "metrics.jsonl")
    run_dir = os.path.dirname(path) or "."
    if not os.path.isfile(path):
        print(f"error: {path} not found (is {a.run} a run folder? training writes RUN_DIR/metrics.jsonl)", file=sys.stderr)
        return 1
    if not 0 <= a.smooth < 1:
        print("error: --smooth must be in [0, 1)", file=sys.stderr)
        return 2
    out = a.out or os.path.join(run_dir, "curves.png")
    series, info, bad_lines, bad_values = read_metrics(path)
    if not series:
        print(f"error: {path} has no loss or accuracy values ({bad_lines} unparsable lines)", file=sys.stderr)
        return 1
    loss_names, acc_names = split_panels(series)
    pos = [v for n in loss_names for _, v in series[n] if v > 0]
    log_loss = a.log_loss == "on" or (a.log_loss == "auto" and pos and max(pos) > 20 * min(pos))
    title = header_text(run_dir, info, series)
    backend = a.backend
    if backend == "auto":
        try:
            import matplotlib  # noqa: F401
            backend = "matplotlib"
        except ImportError:
            backend = "pil"
    try:
        (render_mpl if backend == "matplotlib" else render_pil)(out, title, series, loss_names, acc_names, a.smooth,
                                                                 log_loss, a.width, a.height)
    except ImportError as e:
        print(f"error: the {backend} backend is not available ({e}); install python3-pil (apt) or matplotlib",
              file=sys.stderr)
        return 1
    n = sum(len(v) for v in series.values())
    print(f"wrote {out} ({backend}): {len(loss_names)} loss and {len(acc_names)} accuracy series, {n} points"
          + (f"; skipped {bad_lines} unparsable lines" if bad_lines else "")
          + (f", {bad_values} non-numeric values" if bad_values else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
