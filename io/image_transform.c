/* The CLIP image transforms of M3AE (transforms/transform.py of the official code, spec m3ae.md 3.3/3.4):
 *   clip:             Resize(size, BICUBIC) of the shorter side, CenterCrop(size), ToTensor, Normalize
 *   clip_resizedcrop: RandomResizedCrop(size, scale=(0.9,1.0), ratio=(3/4,4/3), BICUBIC), CenterCrop (a no-op
 *                     then), ToTensor, Normalize
 * on Pillow images; here on RGB8 images with io/image_resize.c (Pillow's resampler, bit for bit). Only the
 * crop window of the resized image is computed. Randomness: common/rng.h, never a hidden stream.
 *
 * One known difference: the official code converts to RGBA before the transform and Pillow resizes RGBA
 * with premultiplied alpha; m3ae decodes to RGB (alpha dropped) first. Identical for opaque images (all
 * 24 RGBA PNGs of medpix2 are opaque); pixels with alpha < 255 would differ at edges. */
#include "io/image_transform.h"

#include <math.h>

const float m3ae_clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
const float m3ae_clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

int m3ae_center_crop_offset(int len, int crop) {
    int d = len - crop;
    if (d % 2 == 0) return d / 2;
    /* (d / 2.0) is k + 0.5 (or -(k + 0.5)): Python's round goes to the even neighbour */
    int lo = (int)floor(d / 2.0), hi = lo + 1;
    return (lo % 2 == 0) ? lo : hi;
}

void m3ae_normalize_clip(const uint8_t *rgb, size_t stride, int size, float *out) {
    float lut[3][256];
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) {
            float x = (float)v / 255.0f;
            lut[c][v] = (x - m3ae_clip_mean[c]) / m3ae_clip_std[c];
        }
    size_t plane = (size_t)size * (size_t)size;
    for (int y = 0; y < size; y++) {
        const uint8_t *r = rgb + (size_t)y * stride;
        float *o0 = out + (size_t)y * size, *o1 = o0 + plane, *o2 = o1 + plane;
        for (int x = 0; x < size; x++) {
            o0[x] = lut[0][r[3 * x + 0]];
            o1[x] = lut[1][r[3 * x + 1]];
            o2[x] = lut[2][r[3 * x + 2]];
        }
    }
}

int m3ae_transform_clip(const m3ae_image *img, int size, float *out, m3ae_error *err) {
    int w = img->width, h = img->height;
    if (size <= 0 || w <= 0 || h <= 0 || !img->rgb)
        return m3ae_error_set(err, "clip transform: bad arguments: %dx%d image, size %d", w, h, size);
    int nw, nh;
    m3ae_shorter_side_size(w, h, size, &nw, &nh);
    int top = m3ae_center_crop_offset(nh, size), left = m3ae_center_crop_offset(nw, size);
    size_t stride = (size_t)w * 3;
    if (nw == w && nh == h) { /* fast path: only crop + normalise */
        m3ae_normalize_clip(img->rgb + (size_t)top * stride + (size_t)left * 3, stride, size, out);
        return 0;
    }
    uint8_t *tmp = m3ae_image_scratch(1, (size_t)size * (size_t)size * 3);
    if (!tmp) return m3ae_error_set(err, "clip transform: out of memory for a %dx%d crop", size, size);
    if (m3ae_image_resample_window(img->rgb, w, h, stride, nw, nh, left, top, size, size, tmp, (size_t)size * 3,
                                   err))
        return -1;
    m3ae_normalize_clip(tmp, (size_t)size * 3, size, out);
    return 0;
}

void m3ae_rrc_params(int width, int height, const m3ae_rng *rng, int *top, int *left, int *h, int *w) {
    const double area = (double)height * (double)width;
    const float scale_lo = 0.9f, scale_hi = 1.0f;
    const float log_lo = logf(3.0f / 4.0f), log_hi = logf(4.0f / 3.0f);
    for (int k = 0; k < 10; k++) {
        float us = m3ae_rng_uniform(rng, 4 * (uint64_t)k + 0);
        float ur = m3ae_rng_uniform(rng, 4 * (uint64_t)k + 1);
        double target_area = area * (double)(scale_lo + (scale_hi - scale_lo) * us);
        double aspect = (double)expf(log_lo + (log_hi - log_lo) * ur);
        int cw = (int)nearbyint(sqrt(target_area * aspect));
        int chh = (int)nearbyint(sqrt(target_area / aspect));
        if (cw > 0 && cw <= width && chh > 0 && chh <= height) {
            *top = (int)m3ae_rng_below(rng, 4 * (uint64_t)k + 2, (uint32_t)(height - chh + 1));
            *left = (int)m3ae_rng_below(rng, 4 * (uint64_t)k + 3, (uint32_t)(width - cw + 1));
            *h = chh;
            *w = cw;
            return;
        }
    }
    /* fallback: central crop */
    double in_ratio = (double)width / (double)height;
    int cw, chh;
    if (in_ratio < 3.0 / 4.0) {
        cw = width;
        chh = (int)nearbyint(cw / (3.0 / 4.0));
    } else if (in_ratio > 4.0 / 3.0) {
        chh = height;
        cw = (int)nearbyint(chh * (4.0 / 3.0));
    } else {
        cw = width;
        chh = height;
    }
    *top = (height - chh) / 2;
    *left = (width - cw) / 2;
    *h = chh;
    *w = cw;
}

int m3ae_transform_crop_resize(const m3ae_image *img, int top, int left, int h, int w, int size, float *out,
                               m3ae_error *err) {
    if (!img->rgb || size <= 0 || top < 0 || left < 0 || h <= 0 || w <= 0 || top + h > img->height ||
        left + w > img->width)
        return m3ae_error_set(err, "crop-resize: box %dx%d at (%d,%d) does not fit the %dx%d image", w, h, left, top,
                              img->width, img->height);
    size_t stride = (size_t)img->width * 3;
    const uint8_t *src = img->rgb + (size_t)top * stride + (size_t)left * 3;
    if (w == size && h == size) {
        m3ae_normalize_clip(src, stride, size, out);
        return 0;
    }
    uint8_t *tmp = m3ae_image_scratch(1, (size_t)size * (size_t)size * 3);
    if (!tmp) return m3ae_error_set(err, "crop-resize: out of memory for a %dx%d crop", size, size);
    if (m3ae_image_resample_window(src, w, h, stride, size, size, 0, 0, size, size, tmp, (size_t)size * 3, err))
        return -1;
    m3ae_normalize_clip(tmp, (size_t)size * 3, size, out);
    return 0;
}

int m3ae_transform_clip_resizedcrop(const m3ae_image *img, int size, const m3ae_rng *rng, float *out,
                                    m3ae_error *err) {
    if (size <= 0 || img->width <= 0 || img->height <= 0 || !img->rgb)
        return m3ae_error_set(err, "clip_resizedcrop transform: bad arguments: %dx%d image, size %d", img->width,
                              img->height, size);
    int top, left, h, w;
    m3ae_rrc_params(img->width, img->height, rng, &top, &left, &h, &w);
    /* RandomResizedCrop gives size x size; the CenterCrop(size) that follows is then the identity */
    return m3ae_transform_crop_resize(img, top, left, h, w, size, out, err);
}
