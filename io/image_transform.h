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

#endif
