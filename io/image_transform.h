/* CLIP image transforms (io room): the `clip` and `clip_resizedcrop` transforms of spec m3ae.md 3.3/3.4,
 * from a decoded RGB8 image to a normalised (3,size,size) float tensor. */
#ifndef M3AE_IO_IMAGE_TRANSFORM_H
#define M3AE_IO_IMAGE_TRANSFORM_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/rng.h"
#include "io/image.h"

/* CLIP mean/std */
extern const float m3ae_clip_mean[3], m3ae_clip_std[3];
/* `clip`: Resize(size, bicubic) of the shorter side, CenterCrop(size) (torchvision rounding), to float, normalise; out is (3,size,size) CHW. */
int m3ae_transform_clip(const m3ae_image *img, int size, float *out, m3ae_error *err);
/* `clip_resizedcrop`: torchvision RandomResizedCrop(size, scale=(0.9,1.0), ratio=(3/4,4/3), bicubic) with its 10-attempt rule and fallback, randomness drawn from `rng` (common/rng.h, word indices from 0), then CenterCrop + normalise. */
int m3ae_transform_clip_resizedcrop(const m3ae_image *img, int size, const m3ae_rng *rng, float *out, m3ae_error *err);
/* Fast path for the loader: when img's shorter side already equals size, only crop + normalise. */

/* ---- The pieces (tests, the loader's own variants) ---- */

/* torchvision CenterCrop offset for cropping `crop` out of `len`: int(round((len - crop) / 2.0)), Python's
 * round (half to even). */
int m3ae_center_crop_offset(int len, int crop);

/* RandomResizedCrop.get_params(scale=(0.9,1.0), ratio=(3/4,4/3)) for a width x height image: the box
 * top, left, h, w. Attempt k (0..9) uses rng words 4k (scale), 4k+1 (log-ratio), 4k+2 (top), 4k+3 (left);
 * scale and ratio are drawn in float32 like torch's uniform_, the rest in double like Python; after 10
 * failed attempts the centre fallback of torchvision. */
void m3ae_rrc_params(int width, int height, const m3ae_rng *rng, int *top, int *left, int *h, int *w);

/* Crop the box, resize it to size x size (Pillow bicubic), normalise: out (3,size,size). */
int m3ae_transform_crop_resize(const m3ae_image *img, int top, int left, int h, int w, int size, float *out,
                               m3ae_error *err);

/* ToTensor + Normalize(CLIP) of a size x size RGB8 region (row stride in bytes), in float32 exactly as
 * torch computes it: (v / 255f - mean) / std. out (3,size,size). */
void m3ae_normalize_clip(const uint8_t *rgb, size_t stride, int size, float *out);

#endif
