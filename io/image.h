/* Image decoding and resampling (io room).
 *
 * Decoders: TIFF (libtiff strip/tile API), PNG (libpng), JPEG (libjpeg-turbo), chosen by the file's
 * magic bytes, never by its extension. Every image comes out as interleaved 8-bit RGB, like Pillow's
 * `Image.open(f).convert("RGB")`: alpha is dropped (not composited), grey is replicated, palettes are
 * expanded. Images with more than 8 bits (16-bit integer, signed or not, 32-bit float) are scaled
 * linearly to 0..255 by their own minimum and maximum (or by the window in m3ae_image_opts); see
 * io/image_decode.c for the exact rounding. A truncated or corrupt file returns -1 with a message
 * naming the file; nothing here prints or exits. */
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
/* Resize so that the SHORTER side is `size` (aspect kept, Pillow/torchvision Resize(size) rounding: the long side = int(size * long / short)), bicubic. */
int m3ae_image_resize_shorter(const m3ae_image *src, int size, m3ae_image *dst, m3ae_error *err);

#endif
