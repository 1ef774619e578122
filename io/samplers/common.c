/* The record -> image and record -> text steps shared by the samplers (io/samplers/common.h). */
#include "io/samplers/common.h"

#include <inttypes.h>
#include <stdlib.h>

#include "common/arena.h"
#include "common/rng.h"
#include "io/image.h"
#include "io/image_transform.h"

void m3ae_sample_arrays_alloc(int B, int S, int L, float **images, int32_t **text_ids, int32_t **text_masks,
                              int64_t **sample_ids) {
    *images = m3ae_alloc((size_t)B * 3 * S * S * sizeof(float), "loader images (B,3,S,S)");
    *text_ids = m3ae_alloc((size_t)B * L * sizeof(int32_t), "loader text ids (B,L)");
    *text_masks = m3ae_alloc((size_t)B * L * sizeof(int32_t), "loader text masks (B,L)");
    *sample_ids = m3ae_alloc((size_t)B * sizeof(int64_t), "loader sample ids (B)");
}

void m3ae_sample_arrays_free(float *images, int32_t *text_ids, int32_t *text_masks, int64_t *sample_ids) {
    m3ae_free(images);
    m3ae_free(text_ids);
    m3ae_free(text_masks);
    m3ae_free(sample_ids);
}

int m3ae_sample_image(const m3ae_record_view *v, int size, int random_crop, uint64_t seed, uint64_t epoch,
                      uint64_t sample, float *out, m3ae_error *err) {
    m3ae_image img = {.width = (int)v->width, .height = (int)v->height, .rgb = (uint8_t *)v->pixels};
    uint8_t *rgb = NULL;
    if (v->channels == 1) { /* grey records: replicate */
        size_t n = (size_t)v->width * v->height;
        rgb = malloc(3 * n);
        if (!rgb) return m3ae_error_set(err, "out of memory");
        for (size_t i = 0; i < n; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = v->pixels[i];
        img.rgb = rgb;
    }
    int rc;
    if (random_crop) {
        m3ae_rng r = m3ae_rng_make(seed, M3AE_RNG_CROP, epoch, sample);
        rc = m3ae_transform_clip_resizedcrop(&img, size, &r, out, err);
    } else {
        rc = m3ae_transform_clip(&img, size, out, err);
    }
    free(rgb);
    return rc;
}

int m3ae_sample_text(const m3ae_tokenizer *tok, const m3ae_record_view *v, uint32_t c, int L, uint64_t g,
                     int32_t *scratch, int32_t *ids, int32_t *mask, m3ae_error *err) {
    uint32_t tl;
    const char *text = m3ae_record_caption(v, c, &tl); /* the cleaned caption or question */
    int n = m3ae_tokenizer_encode(tok, text, tl, scratch, L, L, 1);
    if (n < 0)
        return m3ae_error_set(err, "sample %" PRIu64 " (%.*s): the tokenizer failed on its text", g,
                              (int)v->image_id_len, v->image_id);
    for (int p = 0; p < L; p++) {
        ids[p] = scratch[p];
        mask[p] = p < n ? 1 : 0;
    }
    return n;
}
