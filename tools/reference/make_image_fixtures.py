#!/usr/bin/env python3
"""Expected values for the image decoders, the resampler and the CLIP transforms (tests/io_image).

Run offline, from the project root, with the PyPI python (Pillow, numpy, torch, and tifffile + imagecodecs,
which read the raw samples of 16-bit/float TIFFs and write the synthetic TIFFs: `pip install tifffile
imagecodecs` if they are missing):
    python3 tools/reference/make_image_fixtures.py [--data ../shared/data]
The outputs are deterministic (re-running gives the same files). Fixture values were made with Pillow 13.0.0,
numpy 2.4, torch 2.15, tifffile 2026.3.3.
It writes tests/io_image/fixtures/ (committed, small):
  decode.txt   one line per image: <path> <width> <height> <CRC-32 of the RGB bytes, hex> <pil|policy>
               path is relative to the shared data folder, or "fixture:<name>" for a file in fixtures/.
               pil    = Pillow's Image.open(f).convert("RGB") (every 8-bit image)
               policy = m3ae's documented wide-image policy (io/image.h), computed here with numpy from
                        the raw samples read by tifffile / Pillow: 16-bit, float, signed, 1-bit RGB,
                        grey+alpha TIFFs that Pillow cannot convert.
  resize.txt   <path> <op> <args...> <width> <height> <CRC-32>: Pillow results of
               short<S>        Resize(S) of the shorter side (torchvision rounding), BICUBIC
               clip<S>         that, then CenterCrop(S) (torchvision rounding)
               box<S> t l h w  crop (l, t, l+w, t+h) then resize((S, S), BICUBIC) (RandomResizedCrop)
               resize W H      resize((W, H), BICUBIC)
               png288 NAME     resize_png/NAME holds the clip288 result (pixel comparison: MAD, max)
  resize_png/*.png   the clip288 results of a few images
  norm.txt     <channel> <value> <float32 bits hex>: torch ToTensor + Normalize(CLIP mean/std)
  synth/*      small synthetic files covering layouts the shared data lacks (see make_synthetic).
"""
import argparse
import glob
import io
import os
import struct
import zlib

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(ROOT, "tests", "io_image", "fixtures")

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def crc(a: np.ndarray) -> str:
    """CRC-32 (zlib) of the RGB bytes, as m3ae_image_crc32."""
    return "%08x" % (zlib.crc32(np.ascontiguousarray(a, dtype=np.uint8).tobytes()) & 0xFFFFFFFF)


# ---------------------------------------------------------------- policy (io/image.h)
def wide_to_rgb(v: np.ndarray, invert: bool) -> np.ndarray:
    """v: (H, W) or (H, W, 3) raw samples. m3ae_image_from_wide: float32 samples, finite min..max over all
    colour samples, out = floor((x - lo) * (255 / (hi - lo)) + 0.5) in float64, clamped, NaN -> 0."""
    x = v.astype(np.float32).astype(np.float64)
    fin = np.isfinite(x)
    lo, hi = (x[fin].min(), x[fin].max()) if fin.any() else (0.0, 0.0)
    if hi > lo:
        scale = 255.0 / (hi - lo)
        with np.errstate(invalid="ignore"):
            q = np.floor((x - lo) * scale + 0.5)
        q = np.where(np.isnan(q), 0, np.clip(q, 0, 255))
    else:
        q = np.zeros_like(x)
    q = q.astype(np.uint8)
    if invert:
        q = 255 - q
    if q.ndim == 2:
        q = np.stack([q, q, q], axis=-1)
    return q


def narrow_to_rgb(v: np.ndarray, bits: int, invert: bool) -> np.ndarray:
    x = v.astype(np.float64)
    q = x if bits == 8 else np.floor(x * 255.0 / ((1 << bits) - 1) + 0.5)
    q = q.astype(np.uint8)
    if invert:
        q = 255 - q
    if q.ndim == 2:
        q = np.stack([q, q, q], axis=-1)
    return q


def tiff_policy(path: str) -> np.ndarray:
    import tifffile

    with tifffile.TiffFile(path) as t:
        p = t.pages[0]
        a = p.asarray()
        photo = int(p.photometric)
        bits = int(p.bitspersample)
        fmt = int(p.sampleformat)
        spp = int(p.samplesperpixel)
        sep = int(p.planarconfig) == 2 and spp > 1
        extra = tuple(int(e) for e in (p.extrasamples or ()))
    if sep:
        a = np.moveaxis(a, 0, -1)
    a = a.astype(np.float64) if a.dtype == bool else a
    nc = 3 if photo == 2 else 1
    alpha = None
    if a.ndim == 3:
        if a.shape[-1] > nc:
            alpha = a[..., nc].astype(np.int64)
        a = a[..., :nc] if nc == 3 else a[..., 0]
    wide = bits > 8 or fmt != 1
    if wide:
        return wide_to_rgb(a, photo == 0)
    if bits == 8 and extra[:1] == (1,) and alpha is not None:
        # associated alpha, un-premultiplied like Pillow's "RGBa" unpacker: c * 255 // a, clipped, a == 0 -> 0
        al = alpha[..., None] if a.ndim == 3 else alpha
        v = a.astype(np.int64)
        a = np.where(al == 0, 0, np.minimum(255, v * 255 // np.maximum(al, 1)))
    return narrow_to_rgb(a, bits, photo == 0)


def tiff_is_pil_comparable(path: str) -> bool:
    import tifffile

    with tifffile.TiffFile(path) as t:
        p = t.pages[0]
        bits, fmt = int(p.bitspersample), int(p.sampleformat)
        spp, photo = int(p.samplesperpixel), int(p.photometric)
    if bits > 8 or fmt != 1:
        return False
    if photo in (0, 1) and spp > 1:  # grey + alpha: Pillow says "La", cannot convert
        return False
    if photo == 2 and bits != 8:  # 1-bit RGBA: Pillow cannot open
        return False
    try:
        Image.open(path).convert("RGB")
    except Exception:
        return False
    return True


def pil_rgb(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


# ---------------------------------------------------------------- torchvision rules
def shorter_size(w, h, size):
    if w <= h:
        return size, int(size * h / w)
    return int(size * w / h), size


def center_crop(im: Image.Image, size: int) -> Image.Image:
    w, h = im.size
    top = int(round((h - size) / 2.0))
    left = int(round((w - size) / 2.0))
    return im.crop((left, top, left + size, top + size))


def resize_shorter(im, size):
    nw, nh = shorter_size(im.size[0], im.size[1], size)
    return im.resize((nw, nh), Image.BICUBIC)


# ---------------------------------------------------------------- synthetic files
def make_synthetic(synth_dir):
    """Small files for layouts the shared data lacks. Returns [(name, expected RGB, kind)]."""
    import tifffile

    os.makedirs(synth_dir, exist_ok=True)
    rng = np.random.default_rng(7)
    out = []
    yy, xx = np.mgrid[0:23, 0:37]
    gi = (xx * 7 + yy * 5) % 256
    grad = gi.astype(np.uint8)
    rgb = np.stack([gi, (gi * 3) % 256, 255 - gi], axis=-1).astype(np.uint8)
    rgb[3:9, 4:12] = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)

    def save_bytes(name, data):
        with open(os.path.join(synth_dir, name), "wb") as f:
            f.write(data)

    def pil_save(name, im, **kw):
        buf = io.BytesIO()
        im.save(buf, **kw)
        save_bytes(name, buf.getvalue())

    def add_pil(name):
        out.append((name, pil_rgb(os.path.join(synth_dir, name)), "pil"))

    # JPEG: grey, progressive, CMYK (Pillow writes Adobe inverted CMYK), 4:4:4
    pil_save("grey.jpg", Image.fromarray(grad, "L"), format="JPEG", quality=90)
    add_pil("grey.jpg")
    pil_save("progressive.jpg", Image.fromarray(rgb), format="JPEG", quality=85, progressive=True)
    add_pil("progressive.jpg")
    pil_save("cmyk.jpg", Image.fromarray(rgb).convert("CMYK"), format="JPEG", quality=90)
    add_pil("cmyk.jpg")
    pil_save("s444.jpg", Image.fromarray(rgb), format="JPEG", quality=95, subsampling=0)
    add_pil("s444.jpg")
    # PNG: palette + tRNS, grey+alpha, 1-bit, 4-bit grey, interlaced RGBA, 16-bit grey and RGB
    pal = Image.fromarray(rgb).quantize(colors=16)
    pil_save("palette_trns.png", pal, format="PNG", transparency=3)
    add_pil("palette_trns.png")
    la = Image.fromarray(np.stack([grad, 255 - grad], axis=-1), "LA")
    pil_save("grey_alpha.png", la, format="PNG")
    add_pil("grey_alpha.png")
    pil_save("bits1.png", Image.fromarray(grad > 100).convert("1"), format="PNG")
    add_pil("bits1.png")
    pil_save("palette4.png", Image.fromarray(rgb).quantize(colors=16), format="PNG", bits=4)
    add_pil("palette4.png")
    rgba = np.concatenate([rgb, rng.integers(0, 256, (23, 37, 1), dtype=np.uint8)], axis=-1)
    pil_save("interlaced_rgba.png", Image.fromarray(rgba, "RGBA"), format="PNG", interlace=1)
    add_pil("interlaced_rgba.png")
    g16 = (gi * gi + 1000).astype(np.uint16)
    save_bytes("grey16.png", png16(g16))
    out.append(("grey16.png", wide_to_rgb(g16, False), "policy"))
    c16 = (rgb.astype(np.int64) ** 2 + 7).astype(np.uint16)
    save_bytes("rgb16.png", png16(c16))
    out.append(("rgb16.png", wide_to_rgb(c16, False), "policy"))
    # TIFF: planar separate, PackBits, tiled big-endian, MINISWHITE 8-bit, signed tiled, float planar
    tifffile.imwrite(os.path.join(synth_dir, "planar_sep.tif"), np.moveaxis(rgb, -1, 0), photometric="rgb",
                     planarconfig="separate", compression="zlib")
    out.append(("planar_sep.tif", rgb, "pil" if tiff_is_pil_comparable(os.path.join(synth_dir, "planar_sep.tif"))
                else "policy"))
    tifffile.imwrite(os.path.join(synth_dir, "packbits_be_tiled.tif"), np.pad(rgb, ((0, 9), (0, 11), (0, 0))),
                     photometric="rgb", compression="packbits", byteorder=">", tile=(16, 16))
    out.append(("packbits_be_tiled.tif", np.pad(rgb, ((0, 9), (0, 11), (0, 0))), "policy"))
    tifffile.imwrite(os.path.join(synth_dir, "miniswhite8.tif"), grad, photometric="miniswhite")
    out.append(("miniswhite8.tif", narrow_to_rgb(grad, 8, True), "policy"))
    s16 = ((gi - 128) * np.abs(gi - 100)).astype(np.int16)
    tifffile.imwrite(os.path.join(synth_dir, "int16_tiled_lzw.tif"), s16, photometric="minisblack",
                     compression="lzw", tile=(16, 16))
    out.append(("int16_tiled_lzw.tif", wide_to_rgb(s16, False), "policy"))
    f32 = np.moveaxis(np.sqrt(rgb.astype(np.float32)) / 7.0 - 3.0, -1, 0).astype(np.float32)
    f32[0, 0, 0] = np.nan
    tifffile.imwrite(os.path.join(synth_dir, "float_planar.tif"), f32, photometric="rgb", planarconfig="separate")
    out.append(("float_planar.tif", wide_to_rgb(np.moveaxis(f32, 0, -1), False), "policy"))
    # JPEG-compressed TIFF (YCbCr, converted to RGB by libtiff, as Pillow does)
    tifffile.imwrite(os.path.join(synth_dir, "jpeg_ycbcr.tif"), rgb, photometric="ycbcr", compression="jpeg",
                     rowsperstrip=16)
    add_pil("jpeg_ycbcr.tif")
    return out


def png16(a: np.ndarray) -> bytes:
    """A minimal 16-bit PNG writer (grey or RGB), big-endian samples."""
    import zlib

    h, w = a.shape[:2]
    ctype = 0 if a.ndim == 2 else 2
    raw = b"".join(b"\x00" + a[y].astype(">u2").tobytes() for y in range(h))

    def chunk(t, d):
        c = struct.pack(">I", len(d)) + t + d
        return c + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    args = ap.parse_args()
    try:
        import tifffile  # noqa: F401
        import imagecodecs  # noqa: F401
    except ImportError:
        raise SystemExit("make_image_fixtures.py needs tifffile and imagecodecs: pip install tifffile imagecodecs")
    data = os.path.abspath(args.data)
    os.makedirs(OUT, exist_ok=True)

    # ---- decode.txt
    lines = []
    for f in sorted(glob.glob(os.path.join(data, "tiff", "*"))):
        rel = os.path.relpath(f, data)
        if tiff_is_pil_comparable(f):
            a, kind = pil_rgb(f), "pil"
        else:
            a, kind = tiff_policy(f), "policy"
        lines.append("%s %d %d %s %s" % (rel, a.shape[1], a.shape[0], crc(a), kind))
    for sub in ("medpix2/images", "vqa_rad/images"):
        for f in sorted(glob.glob(os.path.join(data, sub, "*"))):
            a = pil_rgb(f)
            lines.append("%s %d %d %s pil" % (os.path.relpath(f, data), a.shape[1], a.shape[0], crc(a)))
    for name, a, kind in make_synthetic(os.path.join(OUT, "synth")):
        lines.append("fixture:synth/%s %d %d %s %s" % (name, a.shape[1], a.shape[0], crc(a), kind))
    with open(os.path.join(OUT, "decode.txt"), "w") as fo:
        fo.write("\n".join(lines) + "\n")

    # ---- resize.txt: 40 images (medpix2 JPEG + PNG, vqa_rad), and a few synthetic resizes
    med = sorted(glob.glob(os.path.join(data, "medpix2/images/*.jpg")))
    pngs = sorted(glob.glob(os.path.join(data, "medpix2/images/*.png")))
    vqa = sorted(glob.glob(os.path.join(data, "vqa_rad/images/*")))
    pick = med[:: len(med) // 22][:22] + pngs[::8][:3] + vqa[:: len(vqa) // 15][:15]
    rlines = []
    rng = np.random.default_rng(3)
    png_dir = os.path.join(OUT, "resize_png")
    os.makedirs(png_dir, exist_ok=True)
    for old in glob.glob(os.path.join(png_dir, "*.png")):
        os.remove(old)
    for n, f in enumerate(pick):
        rel = os.path.relpath(f, data)
        im = Image.open(f).convert("RGB")
        for s in (384, 288):
            r = resize_shorter(im, s)
            rlines.append("%s short%d %d %d %s" % (rel, s, r.size[0], r.size[1], crc(np.asarray(r))))
            c = center_crop(r, s)
            rlines.append("%s clip%d %d %d %s" % (rel, s, c.size[0], c.size[1], crc(np.asarray(c))))
            if s == 288 and n % 4 == 0:
                pname = os.path.basename(f).rsplit(".", 1)[0] + ".png"
                c.save(os.path.join(png_dir, pname), optimize=True)
                rlines.append("%s png288 %s" % (rel, pname))
        # a RandomResizedCrop-like box on the 384 version
        r = resize_shorter(im, 384)
        w, h = r.size
        bw = int(rng.integers(int(0.85 * w), w + 1))
        bh = int(rng.integers(int(0.85 * h), h + 1))
        t = int(rng.integers(0, h - bh + 1))
        l = int(rng.integers(0, w - bw + 1))
        b = r.crop((l, t, l + bw, t + bh)).resize((288, 288), Image.BICUBIC)
        rlines.append("%s box288 %d %d %d %d 288 288 %s" % (rel, t, l, bh, bw, crc(np.asarray(b))))
        b = im.crop((l // 2, t // 2, l // 2 + bw // 2, t // 2 + bh // 2)).resize((384, 384), Image.BICUBIC)
        rlines.append("%s box384 %d %d %d %d 384 384 %s" % (rel, t // 2, l // 2, bh // 2, bw // 2, crc(np.asarray(b))))
    for rel, sizes in (("tiff/color8.tif", [(413, 97), (31, 250), (160, 37), (7, 120), (1, 1)]),
                       ("tiff/color-5x5.tif", [(13, 7), (3, 2), (2, 5), (1, 1), (5, 11)]),
                       ("tiff/color-1px.tif", [(4, 4), (1, 3)]),
                       ("tiff/female.tiff", [(255, 256), (256, 255), (97, 97), (600, 512)])):
        im = Image.open(os.path.join(data, rel)).convert("RGB")
        for W, H in sizes:
            r = im.resize((W, H), Image.BICUBIC)
            rlines.append("%s resize %d %d %d %d %s" % (rel, W, H, W, H, crc(np.asarray(r))))
    with open(os.path.join(OUT, "resize.txt"), "w") as fo:
        fo.write("\n".join(rlines) + "\n")

    # ---- norm.txt: torch's ToTensor + Normalize in float32
    import torch

    nl = []
    vals = torch.arange(256, dtype=torch.uint8)
    x = vals.to(torch.float32).div(255)
    for c in range(3):
        m = torch.as_tensor(CLIP_MEAN, dtype=torch.float32)[c]
        sd = torch.as_tensor(CLIP_STD, dtype=torch.float32)[c]
        y = (x - m) / sd
        for v in range(256):
            nl.append("%d %d %08x" % (c, v, struct.unpack("<I", struct.pack("<f", float(y[v])))[0]))
    with open(os.path.join(OUT, "norm.txt"), "w") as fo:
        fo.write("\n".join(nl) + "\n")
    total = sum(os.path.getsize(p) for p in glob.glob(os.path.join(OUT, "**", "*"), recursive=True) if os.path.isfile(p))
    print("wrote %s (%d decode lines, %d resize lines, %.2f MB)" % (OUT, len(lines), len(rlines), total / 1e6))


if __name__ == "__main__":
    main()
