/* TIFF decoding through libtiff's strip and tile API (TIFFReadEncodedStrip / TIFFReadEncodedTile),
 * from memory (TIFFClientOpen), first page only. Supported: 1/2/4/8/16/32/64-bit samples, unsigned,
 * signed and IEEE float; grey (MINISBLACK, MINISWHITE), RGB, palette, CMYK (8-bit), JPEG-compressed
 * YCbCr (converted by libtiff); extra samples (alpha) dropped; strips or tiles; planar contig or
 * separate; every compression libtiff was built with (none, LZW, Deflate, PackBits, ...); both byte
 * orders (libtiff swaps to the host order).
 *
 * Conversion to RGB8, as Pillow's convert("RGB") for the 8-bit cases:
 *  - unsigned <= 8 bits: v * 255 / (2^bits - 1) (1-bit: 0/255; 8-bit unchanged); MINISWHITE: 255 - that;
 *  - palette: colormap entry >> 8 (Pillow's 16-bit colormap to 8 bits);
 *  - CMYK 8-bit: Pillow's cmyk2rgb;
 *  - wider, signed or float samples: m3ae_image_from_wide (own min..max or the opts window; all colour
 *    channels share one range), MINISWHITE inverted after scaling.
 * libtiff's messages go to per-handle handlers (TIFFOpenOptions, libtiff >= 4.5) into the error. */
#include "io/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiffio.h>

#if defined(TIFFLIB_VERSION) && TIFFLIB_VERSION >= 20221213
#define M3AE_TIFF_HAVE_OPTIONS 1
#else
#define M3AE_TIFF_HAVE_OPTIONS 0
#endif

typedef struct {
    const uint8_t *data;
    toff_t n, pos;
    char msg[320];
} tiff_mem;

/* ---- the memory client ---- */
static tmsize_t mem_read(thandle_t h, void *buf, tmsize_t size) {
    tiff_mem *m = (tiff_mem *)h;
    if (size <= 0 || m->pos >= m->n) return 0;
    toff_t left = m->n - m->pos;
    toff_t k = (toff_t)size < left ? (toff_t)size : left;
    memcpy(buf, m->data + m->pos, (size_t)k);
    m->pos += k;
    return (tmsize_t)k;
}
static tmsize_t mem_write(thandle_t h, void *buf, tmsize_t size) {
    (void)h;
    (void)buf;
    (void)size;
    return -1;
}
static toff_t mem_seek(thandle_t h, toff_t off, int whence) {
    tiff_mem *m = (tiff_mem *)h;
    toff_t base;
    if (whence == SEEK_SET) base = 0;
    else if (whence == SEEK_CUR) base = m->pos;
    else if (whence == SEEK_END) base = m->n;
    else return (toff_t)-1;
    /* libtiff passes negative offsets as large unsigned values; the unsigned sum wraps to the target */
    toff_t np = base + off;
    if (np > ((toff_t)1 << 62)) return (toff_t)-1; /* before the start */
    m->pos = np;                                   /* past the end is allowed: reads return 0 */
    return np;
}
static int mem_close(thandle_t h) {
    (void)h;
    return 0;
}
static toff_t mem_size(thandle_t h) { return ((tiff_mem *)h)->n; }
static int mem_map(thandle_t h, void **base, toff_t *size) {
    (void)h;
    (void)base;
    (void)size;
    return 0;
}
static void mem_unmap(thandle_t h, void *base, toff_t size) {
    (void)h;
    (void)base;
    (void)size;
}

#if M3AE_TIFF_HAVE_OPTIONS
static int on_tiff_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif;
    tiff_mem *m = user;
    if (!m->msg[0]) {
        char body[256];
        vsnprintf(body, sizeof body, fmt, ap);
        snprintf(m->msg, sizeof m->msg, "%s%s%s", module ? module : "", module ? ": " : "", body);
    }
    return 1; /* handled: the global handler (which prints) is not called */
}
static int on_tiff_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif;
    (void)user;
    (void)module;
    (void)fmt;
    (void)ap;
    return 1;
}
#endif

static TIFF *open_mem(tiff_mem *m, const char *name) {
#if M3AE_TIFF_HAVE_OPTIONS
    TIFFOpenOptions *o = TIFFOpenOptionsAlloc();
    if (!o) return NULL;
    TIFFOpenOptionsSetErrorHandlerExtR(o, on_tiff_error, m);
    TIFFOpenOptionsSetWarningHandlerExtR(o, on_tiff_warning, m);
    TIFF *t = TIFFClientOpenExt(name, "rm", (thandle_t)m, mem_read, mem_write, mem_seek, mem_close, mem_size,
                                mem_map, mem_unmap, o);
    TIFFOpenOptionsFree(o);
    return t;
#else
    /* Old libtiff: messages go to the global handlers (stderr). */
    return TIFFClientOpen(name, "rm", (thandle_t)m, mem_read, mem_write, mem_seek, mem_close, mem_size, mem_map,
                          mem_unmap);
#endif
}

/* ---- sample access on the assembled planes ---- */
typedef struct {
    int bps, fmt; /* bits per sample; SAMPLEFORMAT_UINT/INT/IEEEFP */
} sample_kind;

/* The sample with index i of a row (bit offset i*bps), as a double. */
static inline double get_sample(const uint8_t *row, size_t i, sample_kind k) {
    switch (k.bps) {
    case 8: return k.fmt == SAMPLEFORMAT_INT ? (double)(int8_t)row[i] : (double)row[i];
    case 16: {
        uint16_t v;
        memcpy(&v, row + 2 * i, 2);
        return k.fmt == SAMPLEFORMAT_INT ? (double)(int16_t)v : (double)v;
    }
    case 32: {
        uint32_t v;
        memcpy(&v, row + 4 * i, 4);
        if (k.fmt == SAMPLEFORMAT_IEEEFP) {
            float f;
            memcpy(&f, &v, 4);
            return (double)f;
        }
        return k.fmt == SAMPLEFORMAT_INT ? (double)(int32_t)v : (double)v;
    }
    case 64: {
        uint64_t v;
        memcpy(&v, row + 8 * i, 8);
        if (k.fmt == SAMPLEFORMAT_IEEEFP) {
            double d;
            memcpy(&d, &v, 8);
            return d;
        }
        return k.fmt == SAMPLEFORMAT_INT ? (double)(int64_t)v : (double)v;
    }
    default: { /* 1, 2, 4 bits, MSB first (libtiff has already applied FillOrder) */
        size_t bit = i * (size_t)k.bps;
        unsigned byte = row[bit >> 3];
        unsigned shift = 8u - (unsigned)k.bps - (unsigned)(bit & 7);
        return (double)((byte >> shift) & ((1u << k.bps) - 1u));
    }
    }
}

static inline uint8_t cmyk_channel(int c, int nk) {
    int tmp = c * nk + 128;
    int v = nk - (((tmp >> 8) + tmp) >> 8);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Reads every strip or tile of the first `nplanes` planes into `planes` (plane p at p*plane_bytes,
 * rows of row_bytes). */
static int read_planes(TIFF *tif, tiff_mem *m, const char *name, uint32_t w, uint32_t h, int spp_in_plane,
                       int bps, int nplanes, size_t row_bytes, uint8_t *planes, m3ae_error *err) {
    size_t plane_bytes = row_bytes * h;
    if (!TIFFIsTiled(tif)) {
        uint32_t rps = 0;
        TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &rps);
        if (rps == 0 || rps > h) rps = h;
        for (int p = 0; p < nplanes; p++) {
            for (uint32_t r0 = 0; r0 < h; r0 += rps) {
                uint32_t nr = h - r0 < rps ? h - r0 : rps;
                tstrip_t s = TIFFComputeStrip(tif, r0, (tsample_t)p);
                tmsize_t want = (tmsize_t)(nr * row_bytes);
                tmsize_t got = TIFFReadEncodedStrip(tif, s, planes + p * plane_bytes + r0 * row_bytes, want);
                if (got != want)
                    return m3ae_error_set(err, "image '%s': corrupt or truncated TIFF: strip %u of plane %d: %s", name,
                                          (unsigned)s, p, m->msg[0] ? m->msg : "short read");
            }
        }
        return 0;
    }
    uint32_t tw = 0, th = 0;
    if (!TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw) || !TIFFGetField(tif, TIFFTAG_TILELENGTH, &th) || tw == 0 ||
        th == 0 || tw > 65536 || th > 65536)
        return m3ae_error_set(err, "image '%s': corrupt TIFF: bad tile size %ux%u", name, (unsigned)tw, (unsigned)th);
    size_t tile_row = ((size_t)tw * (size_t)spp_in_plane * (size_t)bps + 7) / 8;
    tmsize_t tsize = TIFFTileSize(tif);
    if (tsize <= 0 || (size_t)tsize < tile_row * th)
        return m3ae_error_set(err, "image '%s': corrupt TIFF: tile size %lld is too small for %ux%u tiles", name,
                              (long long)tsize, (unsigned)tw, (unsigned)th);
    uint8_t *tb = malloc((size_t)tsize);
    if (!tb) return m3ae_error_set(err, "image '%s': out of memory for a %lld-byte tile", name, (long long)tsize);
    for (int p = 0; p < nplanes; p++) {
        for (uint32_t ty = 0; ty < h; ty += th) {
            for (uint32_t tx = 0; tx < w; tx += tw) {
                ttile_t t = TIFFComputeTile(tif, tx, ty, 0, (tsample_t)p);
                if (TIFFReadEncodedTile(tif, t, tb, tsize) < 0) {
                    free(tb);
                    return m3ae_error_set(err, "image '%s': corrupt or truncated TIFF: tile %u of plane %d: %s", name,
                                          (unsigned)t, p, m->msg[0] ? m->msg : "read error");
                }
                size_t bitoff = (size_t)tx * (size_t)spp_in_plane * (size_t)bps;
                if (bitoff % 8) {
                    free(tb);
                    return m3ae_error_set(err, "image '%s': unsupported TIFF: tile column not byte aligned", name);
                }
                uint32_t ncols = w - tx < tw ? w - tx : tw;
                size_t nbytes = ((size_t)ncols * (size_t)spp_in_plane * (size_t)bps + 7) / 8;
                uint32_t nrows = h - ty < th ? h - ty : th;
                for (uint32_t r = 0; r < nrows; r++)
                    memcpy(planes + p * plane_bytes + (ty + r) * row_bytes + bitoff / 8, tb + r * tile_row, nbytes);
            }
        }
    }
    free(tb);
    return 0;
}

static int decode_tiff(TIFF *tif, tiff_mem *m, const char *name, const m3ae_image_opts *opts, m3ae_image *out,
                       m3ae_error *err) {
    uint32_t w = 0, h = 0;
    uint16_t bps = 1, spp = 1, fmt = SAMPLEFORMAT_UINT, planar = PLANARCONFIG_CONTIG, photo = 0, comp = 1;
    if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h))
        return m3ae_error_set(err, "image '%s': corrupt TIFF: no image width/length", name);
    if (w == 0 || h == 0 || (long long)w * h > M3AE_IMAGE_MAX_PIXELS)
        return m3ae_error_set(err, "image '%s': TIFF of %ux%u pixels is empty or larger than the limit of %lld pixels",
                              name, (unsigned)w, (unsigned)h, (long long)M3AE_IMAGE_MAX_PIXELS);
    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &fmt);
    TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &comp);
    if (!TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photo)) photo = spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;
    if (fmt == SAMPLEFORMAT_VOID) fmt = SAMPLEFORMAT_UINT;

    if (photo == PHOTOMETRIC_YCBCR) {
        if (comp != COMPRESSION_JPEG || bps != 8)
            return m3ae_error_set(err, "image '%s': YCbCr TIFF without JPEG compression is not supported: "
                                       "convert it to RGB", name);
        TIFFSetField(tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
        photo = PHOTOMETRIC_RGB;
    }
    int nc; /* colour samples used */
    switch (photo) {
    case PHOTOMETRIC_MINISWHITE:
    case PHOTOMETRIC_MINISBLACK:
    case PHOTOMETRIC_PALETTE: nc = 1; break;
    case PHOTOMETRIC_RGB: nc = 3; break;
    case PHOTOMETRIC_SEPARATED: nc = 4; break;
    default:
        return m3ae_error_set(err, "image '%s': TIFF photometric interpretation %u is not supported "
                                   "(m3ae reads grey, RGB, palette and CMYK): convert it to RGB", name, photo);
    }
    int bps_ok = bps == 1 || bps == 2 || bps == 4 || bps == 8 || bps == 16 || bps == 32 || bps == 64;
    if (!bps_ok || spp < nc || spp > 16 || (fmt != SAMPLEFORMAT_UINT && fmt != SAMPLEFORMAT_INT && fmt != SAMPLEFORMAT_IEEEFP) ||
        (fmt == SAMPLEFORMAT_IEEEFP && bps != 32 && bps != 64) || (fmt == SAMPLEFORMAT_INT && bps < 8))
        return m3ae_error_set(err, "image '%s': unsupported TIFF sample layout: %u bits, format %u, %u samples "
                                   "per pixel, photometric %u", name, bps, fmt, spp, photo);
    if (photo == PHOTOMETRIC_SEPARATED) {
        uint16_t inkset = INKSET_CMYK;
        TIFFGetFieldDefaulted(tif, TIFFTAG_INKSET, &inkset);
        if (inkset != INKSET_CMYK || bps != 8 || fmt != SAMPLEFORMAT_UINT)
            return m3ae_error_set(err, "image '%s': only 8-bit CMYK separated TIFFs are supported", name);
    }
    if (photo == PHOTOMETRIC_PALETTE && (fmt != SAMPLEFORMAT_UINT || bps > 16))
        return m3ae_error_set(err, "image '%s': corrupt TIFF: palette with %u-bit samples", name, bps);

    uint16_t *cmap[3] = {NULL, NULL, NULL};
    if (photo == PHOTOMETRIC_PALETTE && !TIFFGetField(tif, TIFFTAG_COLORMAP, &cmap[0], &cmap[1], &cmap[2]))
        return m3ae_error_set(err, "image '%s': corrupt TIFF: palette image without a colour map", name);

    /* associated (premultiplied) alpha: Pillow un-premultiplies 8-bit data ("RGBa": c * 255 / a, truncated,
     * clipped; a == 0 gives 0) before convert("RGB") drops the alpha; m3ae does the same for grey */
    int assoc = -1; /* sample index of the associated alpha, if any */
    {
        uint16_t nextra = 0, *extra = NULL;
        if (TIFFGetField(tif, TIFFTAG_EXTRASAMPLES, &nextra, &extra) && nextra > 0 && extra &&
            extra[0] == EXTRASAMPLE_ASSOCALPHA && spp > nc && photo != PHOTOMETRIC_PALETTE && bps == 8 &&
            fmt == SAMPLEFORMAT_UINT && photo != PHOTOMETRIC_SEPARATED)
            assoc = nc;
    }

    int separate = planar == PLANARCONFIG_SEPARATE && spp > 1;
    int spp_in_plane = separate ? 1 : spp;
    int nplanes = separate ? (assoc >= 0 ? nc + 1 : nc) : 1;
    size_t row_bytes = ((size_t)w * (size_t)spp_in_plane * (size_t)bps + 7) / 8;
    size_t plane_bytes = row_bytes * h;
    if ((double)plane_bytes * nplanes > 4.0 * 1024 * 1024 * 1024)
        return m3ae_error_set(err, "image '%s': TIFF of %ux%u pixels with %u samples of %u bits is larger than 4 GiB",
                              name, (unsigned)w, (unsigned)h, spp, bps);
    uint8_t *planes = malloc(plane_bytes * (size_t)nplanes);
    if (!planes) return m3ae_error_set(err, "image '%s': out of memory for %ux%u pixels", name, (unsigned)w, (unsigned)h);
    if (read_planes(tif, m, name, w, h, spp_in_plane, bps, nplanes, row_bytes, planes, err)) {
        free(planes);
        return -1;
    }

    sample_kind k = {bps, fmt};
    int wide = bps > 8 || fmt != SAMPLEFORMAT_UINT;
    if (photo == PHOTOMETRIC_PALETTE) wide = 0;
    int rc = 0;
    /* sample c of pixel x in row y */
#define SAMPLE(y, x, c)                                                                                         \
    (separate ? get_sample(planes + (size_t)(c)*plane_bytes + (size_t)(y)*row_bytes, (size_t)(x), k)            \
              : get_sample(planes + (size_t)(y)*row_bytes, (size_t)(x) * spp + (size_t)(c), k))
    if (!wide) {
        if (m3ae_image_alloc(out, (int)w, (int)h, name, err)) {
            free(planes);
            return -1;
        }
        if (bps == 8 && !separate && assoc < 0 && (photo == PHOTOMETRIC_RGB || photo == PHOTOMETRIC_MINISBLACK)) {
            /* the common case, without the per-sample accessor */
            for (uint32_t y = 0; y < h; y++) {
                const uint8_t *src = planes + (size_t)y * row_bytes;
                uint8_t *dst = out->rgb + (size_t)y * w * 3;
                for (uint32_t x = 0; x < w; x++, src += spp, dst += 3) {
                    dst[0] = src[0];
                    dst[1] = src[nc == 3 ? 1 : 0];
                    dst[2] = src[nc == 3 ? 2 : 0];
                }
            }
            free(planes);
            return 0;
        }
        double maxv = (double)((1u << bps) - 1u);
        size_t ncmap = (size_t)1 << bps;
        for (uint32_t y = 0; y < h; y++) {
            uint8_t *dst = out->rgb + (size_t)y * w * 3;
            for (uint32_t x = 0; x < w; x++, dst += 3) {
                if (photo == PHOTOMETRIC_PALETTE) {
                    size_t idx = (size_t)SAMPLE(y, x, 0);
                    if (idx >= ncmap) idx = ncmap - 1;
                    for (int c = 0; c < 3; c++) dst[c] = (uint8_t)(cmap[c][idx] >> 8);
                } else if (photo == PHOTOMETRIC_SEPARATED) {
                    int nk = 255 - (int)SAMPLE(y, x, 3);
                    for (int c = 0; c < 3; c++) dst[c] = cmyk_channel((int)SAMPLE(y, x, c), nk);
                } else {
                    int a = assoc >= 0 ? (int)SAMPLE(y, x, assoc) : 255;
                    for (int c = 0; c < 3; c++) {
                        double v = SAMPLE(y, x, nc == 3 ? c : 0);
                        int q = bps == 8 ? (int)v : (int)(v * 255.0 / maxv + 0.5);
                        if (a != 255) q = a == 0 ? 0 : (q * 255 / a > 255 ? 255 : q * 255 / a);
                        dst[c] = (uint8_t)(photo == PHOTOMETRIC_MINISWHITE ? 255 - q : q);
                    }
                }
            }
        }
    } else {
        float *v = malloc((size_t)w * h * (size_t)nc * sizeof(float));
        if (!v) {
            free(planes);
            return m3ae_error_set(err, "image '%s': out of memory for %ux%u wide samples", name, (unsigned)w,
                                  (unsigned)h);
        }
        size_t i = 0;
        for (uint32_t y = 0; y < h; y++)
            for (uint32_t x = 0; x < w; x++)
                for (int c = 0; c < nc; c++) v[i++] = (float)SAMPLE(y, x, c);
        rc = m3ae_image_from_wide(v, (int)w, (int)h, nc, photo == PHOTOMETRIC_MINISWHITE, opts, out, name, err);
        free(v);
    }
#undef SAMPLE
    free(planes);
    return rc;
}

int m3ae_image_decode_tiff(const void *data, size_t n, const char *name, const m3ae_image_opts *opts,
                           m3ae_image *out, m3ae_error *err) {
    out->width = out->height = 0;
    out->rgb = NULL;
    tiff_mem m = {.data = data, .n = (toff_t)n, .pos = 0, .msg = {0}};
    TIFF *tif = open_mem(&m, name);
    if (!tif)
        return m3ae_error_set(err, "image '%s': corrupt or truncated TIFF: %s", name,
                              m.msg[0] ? m.msg : "libtiff could not open it");
    int rc = decode_tiff(tif, &m, name, opts, out, err);
    TIFFClose(tif);
    return rc;
}
