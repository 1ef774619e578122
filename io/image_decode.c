/* Image decoding entry points: read a file, sniff the format from its magic bytes, dispatch to the
 * TIFF / PNG / JPEG decoder; shared helpers (allocation with a size limit, wide-sample scaling).
 *
 * Policy for images with more than 8 bits per sample (documented in io/image.h and
 * spec m3ae.md 3.3): Pillow's convert("RGB") clips 16-bit grey ("I;16" -> 255 above 255), keeps the
 * high byte of 16-bit RGB and refuses float RGB; a CT or MR slice would be white or black. m3ae
 * instead scales every wide image linearly by its own finite minimum and maximum (or a fixed window
 * from m3ae_image_opts), which keeps the anatomy visible. 8-bit images are Pillow's pixels exactly. */
#include "io/image.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

int m3ae_image_alloc(m3ae_image *out, int w, int h, const char *name, m3ae_error *err) {
    out->width = out->height = 0;
    out->rgb = NULL;
    if (w <= 0 || h <= 0)
        return m3ae_error_set(err, "image '%s': invalid size %dx%d (corrupt header?)", name, w, h);
    if ((long long)w * h > M3AE_IMAGE_MAX_PIXELS)
        return m3ae_error_set(err,
                              "image '%s': %dx%d pixels is larger than the limit of %lld pixels "
                              "(corrupt header, or resize the image before converting it)",
                              name, w, h, (long long)M3AE_IMAGE_MAX_PIXELS);
    out->rgb = malloc((size_t)w * (size_t)h * 3);
    if (!out->rgb)
        return m3ae_error_set(err, "image '%s': out of memory for %dx%d RGB pixels", name, w, h);
    out->width = w;
    out->height = h;
    return 0;
}

void m3ae_image_free(m3ae_image *img) {
    if (!img) return;
    free(img->rgb);
    img->rgb = NULL;
    img->width = img->height = 0;
}

uint32_t m3ae_image_crc32(const m3ae_image *img) {
    uLong c = crc32(0L, Z_NULL, 0);
    const uint8_t *p = img->rgb;
    size_t n = (size_t)img->width * (size_t)img->height * 3;
    while (n > 0) { /* zlib takes uInt lengths */
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)c;
}

int m3ae_image_from_wide(const float *v, int w, int h, int nc, int invert, const m3ae_image_opts *opts,
                         m3ae_image *out, const char *name, m3ae_error *err) {
    if (nc != 1 && nc != 3)
        return m3ae_error_set(err, "image '%s': internal error: %d colour channels", name, nc);
    size_t n = (size_t)w * (size_t)h * (size_t)nc;
    double lo, hi;
    if (opts && opts->fixed_window) {
        lo = opts->lo;
        hi = opts->hi;
    } else {
        lo = INFINITY;
        hi = -INFINITY;
        for (size_t i = 0; i < n; i++) {
            float x = v[i];
            if (!isfinite(x)) continue;
            if (x < lo) lo = x;
            if (x > hi) hi = x;
        }
        if (lo > hi) lo = hi = 0.0; /* no finite value */
    }
    if (m3ae_image_alloc(out, w, h, name, err)) return -1;
    double scale = hi > lo ? 255.0 / (hi - lo) : 0.0;
    size_t npix = (size_t)w * (size_t)h;
    for (size_t p = 0; p < npix; p++) {
        for (int c = 0; c < 3; c++) {
            float x = v[p * nc + (nc == 3 ? c : 0)];
            int q;
            if (isnan(x) || scale == 0.0) {
                q = 0;
            } else {
                double t = floor(((double)x - lo) * scale + 0.5);
                q = t < 0.0 ? 0 : t > 255.0 ? 255 : (int)t;
            }
            out->rgb[p * 3 + c] = (uint8_t)(invert ? 255 - q : q);
        }
    }
    return 0;
}

int m3ae_image_decode_mem(const void *data, size_t n, const char *name, const m3ae_image_opts *opts,
                          m3ae_image *out, m3ae_error *err) {
    const uint8_t *b = data;
    if (!name) name = "(memory)";
    out->width = out->height = 0;
    out->rgb = NULL;
    if (!data || n < 8)
        return m3ae_error_set(err, "image '%s': %zu bytes is too short to be an image (empty or truncated file)",
                              name, n);
    if (b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return m3ae_image_decode_jpeg(data, n, name, out, err);
    if (memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) return m3ae_image_decode_png(data, n, name, opts, out, err);
    if ((b[0] == 'I' && b[1] == 'I' && (b[2] == 42 || b[2] == 43) && b[3] == 0) ||
        (b[0] == 'M' && b[1] == 'M' && b[2] == 0 && (b[3] == 42 || b[3] == 43)))
        return m3ae_image_decode_tiff(data, n, name, opts, out, err);
    return m3ae_error_set(err,
                          "image '%s': unknown format (first bytes %02x %02x %02x %02x); m3ae reads "
                          "JPEG, PNG and TIFF: convert the file to one of them",
                          name, b[0], b[1], b[2], b[3]);
}

int m3ae_image_decode_file(const char *path, const m3ae_image_opts *opts, m3ae_image *out, m3ae_error *err) {
    out->width = out->height = 0;
    out->rgb = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return m3ae_error_set(err, "image '%s': cannot open: %s", path, strerror(errno));
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 1 << 16;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                fclose(f);
                return m3ae_error_set(err, "image '%s': out of memory reading the file", path);
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return m3ae_error_set(err, "image '%s': read error: %s", path, strerror(errno));
    }
    int rc = m3ae_image_decode_mem(buf, len, path, opts, out, err);
    free(buf);
    return rc;
}
