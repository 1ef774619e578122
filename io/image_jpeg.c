/* JPEG decoding through libjpeg-turbo, with Pillow's settings: the library's default IDCT (ISLOW) and
 * fancy upsampling, YCbCr -> RGB by the library, grey replicated, CMYK (stored inverted, Adobe
 * style, as Pillow assumes) converted with Pillow's cmyk2rgb. Errors never exit: the error manager
 * longjmps back here with the message. A premature end of the data or of a data segment (truncated or
 * corrupt file) is an error, like Pillow's "image file is truncated"; other warnings are not. */
#include "io/image.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err_ctx;

static void on_error_exit(j_common_ptr cinfo) {
    jpeg_err_ctx *e = (jpeg_err_ctx *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jump, 1);
}

/* Warnings: the end of the data (JWRN_JPEG_EOF) or of an entropy-coded segment (JWRN_HIT_MARKER) before
 * the image is complete means a truncated or corrupt file, whose missing rows libjpeg would fill with
 * grey: stop at once and fail (none of the shared images warns; a tiny corrupt file claiming a huge size
 * would otherwise cost a full decode). Other warnings (extraneous bytes...) are accepted, as Pillow does. */
static void on_emit_message(j_common_ptr cinfo, int level) {
    jpeg_err_ctx *e = (jpeg_err_ctx *)cinfo->err;
    if (level < 0) {
        cinfo->err->num_warnings++;
        if (cinfo->err->msg_code == JWRN_JPEG_EOF || cinfo->err->msg_code == JWRN_HIT_MARKER) {
            (*cinfo->err->format_message)(cinfo, e->msg);
            longjmp(e->jump, 2); /* 2: truncated or corrupt data */
        }
    }
}

/* Pillow's MULDIV255 and cmyk2rgb (Convert.c), for inverted (Adobe) CMYK data. */
static inline uint8_t cmyk_channel(int c, int nk) {
    int tmp = c * nk + 128;
    int v = nk - (((tmp >> 8) + tmp) >> 8);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

int m3ae_image_decode_jpeg(const void *data, size_t n, const char *name, m3ae_image *out, m3ae_error *err) {
    struct jpeg_decompress_struct cinfo;
    jpeg_err_ctx jerr;
    /* volatile: modified after setjmp and read after a longjmp */
    uint8_t *volatile row = NULL;
    out->width = out->height = 0;
    out->rgb = NULL;
    memset(&jerr, 0, sizeof jerr);
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = on_error_exit;
    jerr.pub.emit_message = on_emit_message;
    switch (setjmp(jerr.jump)) { /* a libjpeg error or a fatal warning lands here */
    case 0: break;
    case 2:
        jpeg_destroy_decompress(&cinfo);
        free(row);
        m3ae_image_free(out);
        return m3ae_error_set(err, "image '%s': truncated or corrupt JPEG (%s): the file is incomplete, "
                                   "re-download or re-export it", name, jerr.msg);
    default:
        jpeg_destroy_decompress(&cinfo);
        free(row);
        m3ae_image_free(out);
        return m3ae_error_set(err, "image '%s': corrupt JPEG: %s", name, jerr.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, (const unsigned char *)data, (unsigned long)n);
    jpeg_read_header(&cinfo, TRUE);

    if ((long long)cinfo.image_width * cinfo.image_height > M3AE_IMAGE_MAX_PIXELS) {
        jpeg_destroy_decompress(&cinfo);
        return m3ae_error_set(err, "image '%s': JPEG of %ux%u pixels is larger than the limit of %lld pixels",
                              name, (unsigned)cinfo.image_width, (unsigned)cinfo.image_height,
                              (long long)M3AE_IMAGE_MAX_PIXELS);
    }
    int cmyk = 0;
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo.out_color_space = JCS_GRAYSCALE; break;
    case JCS_CMYK:
    case JCS_YCCK:
        cinfo.out_color_space = JCS_CMYK;
        cmyk = 1;
        break;
    default: cinfo.out_color_space = JCS_RGB; break;
    }
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.do_fancy_upsampling = TRUE;
    jpeg_start_decompress(&cinfo);

    int w = (int)cinfo.output_width, h = (int)cinfo.output_height, nc = cinfo.output_components;
    if (m3ae_image_alloc(out, w, h, name, err)) {
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    if (nc != 3) {
        row = malloc((size_t)w * (size_t)nc);
        if (!row) {
            jpeg_destroy_decompress(&cinfo);
            m3ae_image_free(out);
            return m3ae_error_set(err, "image '%s': out of memory", name);
        }
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        int y = (int)cinfo.output_scanline;
        uint8_t *dst = out->rgb + (size_t)y * (size_t)w * 3;
        JSAMPROW rp = nc == 3 ? dst : row;
        if (jpeg_read_scanlines(&cinfo, &rp, 1) != 1) break;
        if (nc == 1) {
            for (int x = 0; x < w; x++) dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = row[x];
        } else if (nc == 4 && cmyk) {
            for (int x = 0; x < w; x++) {
                const uint8_t *p = row + 4 * x;
                /* Pillow unpacks "CMYK;I": c = 255 - c', k = 255 - k'; cmyk2rgb uses nk = 255 - k = k' */
                int nk = p[3];
                dst[3 * x + 0] = cmyk_channel(255 - p[0], nk);
                dst[3 * x + 1] = cmyk_channel(255 - p[1], nk);
                dst[3 * x + 2] = cmyk_channel(255 - p[2], nk);
            }
        } else if (nc != 3) {
            jpeg_destroy_decompress(&cinfo);
            free(row);
            m3ae_image_free(out);
            return m3ae_error_set(err, "image '%s': JPEG with %d output components is not supported", name, nc);
        }
    }
    if (cinfo.output_scanline < cinfo.output_height) {
        jpeg_destroy_decompress(&cinfo);
        free(row);
        m3ae_image_free(out);
        return m3ae_error_set(err, "image '%s': truncated JPEG (fewer rows than the header says)", name);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row);
    return 0;
}
