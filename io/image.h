/* Image decoding and resampling (io room).
 *
 * Decoders: TIFF (libtiff strip/tile API), PNG (libpng), JPEG (libjpeg-turbo), chosen by the file's
 * magic bytes, never by its extension. Every image comes out as interleaved 8-bit RGB, like Pillow's
 * `Image.open(f).convert("RGB")`: alpha is dropped (not composited), grey is replicated, palettes are
 * expanded (8-bit TIFFs with premultiplied alpha are un-premultiplied first, as Pillow does). Every 8-bit
 * file gives Pillow's pixels exactly (tests/io_image: all 2,378 Pillow-comparable files). Images with
 * more than 8 bits (16-bit integer, signed or not, 32-bit float) are scaled linearly to 0..255 by their
 * own minimum and maximum (or by the window in m3ae_image_opts; rounding: m3ae_image_from_wide below),
 * where Pillow would clip 16-bit grey to 255 and keep the high byte of 16-bit RGB. A truncated or
 * corrupt file returns -1 with a message naming the file; nothing here prints or exits. Thread-safe. */
#ifndef M3AE_IO_IMAGE_H
#define M3AE_IO_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/rng.h"

typedef struct { int width, height; uint8_t *rgb; } m3ae_image;   /* interleaved RGB8, row-major, width*height*3 bytes */
typedef struct { int fixed_window; float lo, hi; } m3ae_image_opts; /* 16-bit/float scaling: default (NULL or fixed_window 0) = the image's own min..max; else [lo,hi] -> [0,255] */

int m3ae_image_decode_file(const char *path, const m3ae_image_opts *opts, m3ae_image *out, m3ae_error *err);
int m3ae_image_decode_mem(const void *data, size_t n, const char *name, const m3ae_image_opts *opts, m3ae_image *out, m3ae_error *err); /* name is used in error messages */
void m3ae_image_free(m3ae_image *img);
/* Pillow Image.resize((w,h), Image.BICUBIC) on RGB8 (Pillow's separable convolution with support scaled on downsampling (antialias), a=-0.5 cubic, its fixed-point rounding and clipping). */
int m3ae_image_resize_bicubic(const m3ae_image *src, int w, int h, m3ae_image *dst, m3ae_error *err);
/* The size Resize(size) gives a w x h image: the shorter side becomes `size`, the longer one
 * int(size * long / short) (Pillow/torchvision rounding). */
void m3ae_shorter_side_size(int w, int h, int size, int *nw, int *nh);
/* Resize so that the SHORTER side is `size` (aspect kept, Pillow/torchvision Resize(size) rounding: the long side = int(size * long / short)), bicubic. */
int m3ae_image_resize_shorter(const m3ae_image *src, int size, m3ae_image *dst, m3ae_error *err);

/* ---- Below: the pieces the functions above are made of, for callers that already know the
 * format or need a part of the resampler (the transforms, tests, fuzzing). ---- */

/* Largest image accepted by the decoders (width * height), so that a corrupt header cannot ask for
 * gigabytes; larger files are refused with a message. */
#define M3AE_IMAGE_MAX_PIXELS (100LL * 1000 * 1000)

/* Per-format decoders (same contract as m3ae_image_decode_mem; `name` is used in messages). */
int m3ae_image_decode_tiff(const void *data, size_t n, const char *name, const m3ae_image_opts *opts, m3ae_image *out, m3ae_error *err);
int m3ae_image_decode_png(const void *data, size_t n, const char *name, const m3ae_image_opts *opts, m3ae_image *out, m3ae_error *err);
int m3ae_image_decode_jpeg(const void *data, size_t n, const char *name, m3ae_image *out, m3ae_error *err);

/* Allocates out->rgb for a w x h image (checks the size limit); 0 or -1. */
int m3ae_image_alloc(m3ae_image *out, int w, int h, const char *name, m3ae_error *err);

/* Wide samples (16-bit, 32-bit, float, signed) to RGB8: `v` holds w*h*nc values (nc 1 = grey, replicated,
 * or 3 = RGB), scaled by [lo,hi] -> [0,255] where lo,hi = opts' window or else the finite minimum and
 * maximum of all values: out = floor((v - lo) * 255.0 / (hi - lo) + 0.5) in double, clamped to 0..255
 * (hi == lo gives 0; NaN gives 0). invert != 0 (MINISWHITE) then stores 255 - out. */
int m3ae_image_from_wide(const float *v, int w, int h, int nc, int invert, const m3ae_image_opts *opts, m3ae_image *out, const char *name, m3ae_error *err);

/* Pillow's bicubic resize of a sub-rectangle: the source is a view (src, sw x sh pixels, row stride
 * sstride bytes, RGB8); the full result would be W x H; only its window [ox,ox+ow) x [oy,oy+oh) is
 * computed, into dst (row stride dstride bytes). Equal, pixel for pixel, to Pillow's
 * `im.resize((W,H), BICUBIC).crop((ox,oy,ox+ow,oy+oh))`. */
int m3ae_image_resample_window(const uint8_t *src, int sw, int sh, size_t sstride, int W, int H, int ox, int oy, int ow, int oh, uint8_t *dst, size_t dstride, m3ae_error *err);

/* Per-thread scratch memory kept between calls (the resampler uses slot 0, the transforms slot 1): a block of
 * at least `bytes`, valid until the next call with the same slot on this thread; freed when the thread ends.
 * NULL when out of memory. */
void *m3ae_image_scratch(int slot, size_t bytes);

/* CRC-32 (zlib's) of the RGB bytes: test fixtures, `m3ae prep` checks. */
uint32_t m3ae_image_crc32(const m3ae_image *img);

#endif
