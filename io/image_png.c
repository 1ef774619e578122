/* PNG decoding through libpng, from memory. Like Pillow's convert("RGB"): palettes are expanded,
 * grey of 1/2/4 bits is scaled to 8 bits (bit replication, as Pillow's "L;2"/"L;4"/"1" unpackers),
 * alpha channels and tRNS are dropped without compositing, gamma chunks are ignored.
 * 16-bit PNGs follow m3ae's wide-image policy (scaled by their own min..max or the opts window; see
 * io/image.h) where Pillow would clip 16-bit grey to 255 and keep the high byte of 16-bit RGB.
 * libpng errors longjmp back here; nothing is printed. */
#include "io/image.h"

#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

typedef struct {
    const uint8_t *data;
    size_t n, pos;
    char msg[256];
} png_ctx;

static void on_png_error(png_structp png, png_const_charp msg) {
    png_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static void on_png_read(png_structp png, png_bytep dst, png_size_t len) {
    png_ctx *c = png_get_io_ptr(png);
    if (len > c->n - c->pos) png_error(png, "unexpected end of data (truncated file)");
    memcpy(dst, c->data + c->pos, len);
    c->pos += len;
}

int m3ae_image_decode_png(const void *data, size_t n, const char *name, const m3ae_image_opts *opts,
                          m3ae_image *out, m3ae_error *err) {
    png_ctx ctx = {.data = data, .n = n, .pos = 0, .msg = {0}};
    out->width = out->height = 0;
    out->rgb = NULL;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_png_error, on_png_warning);
    if (!png) return m3ae_error_set(err, "image '%s': cannot create a libpng reader (out of memory?)", name);
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return m3ae_error_set(err, "image '%s': cannot create a libpng reader (out of memory?)", name);
    }
    /* volatile: set after setjmp, freed after a longjmp */
    uint8_t *volatile pix = NULL;
    png_bytep *volatile rows = NULL;
    float *volatile wide = NULL;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(pix);
        free(rows);
        free(wide);
        m3ae_image_free(out);
        return m3ae_error_set(err, "image '%s': corrupt PNG: %s", name, ctx.msg);
    }
    png_set_read_fn(png, &ctx, on_png_read);
    png_set_user_limits(png, 1000000, 1000000);
    png_read_info(png, info);

    png_uint_32 w32, h32;
    int depth, ctype, interlace;
    png_get_IHDR(png, info, &w32, &h32, &depth, &ctype, &interlace, NULL, NULL);
    if ((long long)w32 * h32 > M3AE_IMAGE_MAX_PIXELS || w32 == 0 || h32 == 0) {
        png_destroy_read_struct(&png, &info, NULL);
        return m3ae_error_set(err, "image '%s': PNG of %ux%u pixels is empty or larger than the limit of %lld pixels",
                              name, (unsigned)w32, (unsigned)h32, (long long)M3AE_IMAGE_MAX_PIXELS);
    }
    int w = (int)w32, h = (int)h32;
    if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (ctype & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    if (interlace != PNG_INTERLACE_NONE) png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int ch = png_get_channels(png, info);          /* 1..4; an alpha left by tRNS expansion is skipped below */
    int bd = png_get_bit_depth(png, info);         /* 8 or 16 */
    size_t rowbytes = png_get_rowbytes(png, info);
    if (ch < 1 || ch > 4 || (bd != 8 && bd != 16) || rowbytes != (size_t)w * (size_t)ch * (size_t)(bd / 8)) {
        png_destroy_read_struct(&png, &info, NULL);
        return m3ae_error_set(err, "image '%s': unsupported PNG layout (%d channels of %d bits after expansion)",
                              name, ch, bd);
    }
    int nc = ch >= 3 ? 3 : 1; /* colour channels; the rest is alpha */
    pix = malloc(rowbytes * (size_t)h);
    rows = malloc(sizeof(png_bytep) * (size_t)h);
    if (!pix || !rows) png_error(png, "out of memory");
    for (int y = 0; y < h; y++) rows[y] = pix + (size_t)y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);

    int rc = 0;
    size_t np = (size_t)w * (size_t)h;
    if (bd == 8) {
        if (m3ae_image_alloc(out, w, h, name, err)) {
            rc = -1;
        } else if (ch == 3) {
            memcpy(out->rgb, pix, np * 3);
        } else {
            for (size_t i = 0; i < np; i++)
                for (int c = 0; c < 3; c++) out->rgb[3 * i + c] = pix[i * ch + (nc == 3 ? c : 0)];
        }
    } else {
        wide = malloc(np * (size_t)nc * sizeof(float));
        if (!wide) png_error(png, "out of memory");
        for (size_t i = 0; i < np; i++)
            for (int c = 0; c < nc; c++) {
                const uint8_t *q = pix + 2 * (i * ch + c); /* big-endian samples */
                wide[i * nc + c] = (float)((q[0] << 8) | q[1]);
            }
        rc = m3ae_image_from_wide(wide, w, h, nc, 0, opts, out, name, err);
    }
    png_destroy_read_struct(&png, &info, NULL);
    free(pix);
    free(rows);
    free(wide);
    return rc;
}
