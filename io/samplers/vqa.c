/* The VQA sampler (io/samplers/vqa.h): record -> transform -> question tokens -> label. */
#include "io/samplers/vqa.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/rng.h"
#include "io/image.h"
#include "io/image_transform.h"

int m3ae_vqa_sampler_init(m3ae_vqa_sampler *s, const m3ae_vqa_sampler_config *cfg, m3ae_error *err) {
    const m3ae_vqa_sampler_config *c = cfg;
    if (!c->tokenizer || c->image_size < 1 || c->max_text_len < 2 || c->n_labels < 1)
        return m3ae_error_set(err, "bad VQA sampler configuration (image %d, text %d, %d labels)", c->image_size,
                              c->max_text_len, c->n_labels);
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    return 0;
}

static void *batch_alloc(void *ctx, int B) {
    const m3ae_vqa_sampler *s = ctx;
    const int S = s->cfg.image_size, L = s->cfg.max_text_len;
    m3ae_vqa_batch *b = m3ae_alloc(sizeof *b, "VQA batch");
    b->B = B, b->S = S, b->L = L;
    b->images = m3ae_alloc((size_t)B * 3 * S * S * sizeof(float), "loader images (B,3,S,S)");
    b->text_ids = m3ae_alloc((size_t)B * L * sizeof(int32_t), "loader question ids (B,L)");
    b->text_masks = m3ae_alloc((size_t)B * L * sizeof(int32_t), "loader question masks (B,L)");
    b->labels = m3ae_alloc((size_t)B * sizeof(int32_t), "loader VQA labels (B)");
    b->sample_ids = m3ae_alloc((size_t)B * sizeof(int64_t), "loader sample ids (B)");
    return b;
}

static void batch_free(void *ctx, void *batch) {
    (void)ctx;
    m3ae_vqa_batch *b = batch;
    void *p[] = {b->images, b->text_ids, b->text_masks, b->labels, b->sample_ids};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++) m3ae_free(p[i]);
    m3ae_free(b);
}

static int transform(const m3ae_vqa_sampler *s, const m3ae_record_view *v, uint64_t epoch, uint64_t sample, float *out,
                     m3ae_error *err) {
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
    if (s->cfg.random_crop) {
        m3ae_rng r = m3ae_rng_make(s->cfg.seed, M3AE_RNG_CROP, epoch, sample);
        rc = m3ae_transform_clip_resizedcrop(&img, s->cfg.image_size, &r, out, err);
    } else {
        rc = m3ae_transform_clip(&img, s->cfg.image_size, out, err);
    }
    free(rgb);
    return rc;
}

void *m3ae_vqa_batch_alloc(const m3ae_vqa_sampler *s, int B) { return batch_alloc((void *)s, B); }
void m3ae_vqa_batch_free(void *batch) { batch_free(NULL, batch); }

int m3ae_vqa_sample_build(const m3ae_vqa_sampler *s, const m3ae_record_view *vp, uint32_t c, uint64_t epoch, uint64_t g,
                          m3ae_vqa_batch *b, int i, int32_t *ids_tmp, m3ae_error *err) {
    const m3ae_record_view v = *vp;
    const int S = b->S, L = b->L;
    b->sample_ids[i] = (int64_t)g;
    if (v.label >= s->cfg.n_labels)
        return m3ae_error_set(err, "sample %" PRIu64 " (%.*s): label %d is outside the dataset's %d labels (a corrupt "
                              "dataset: re-run m3ae prep)", g, (int)v.image_id_len, v.image_id, v.label, s->cfg.n_labels);
    b->labels[i] = v.label < 0 ? -1 : v.label;
    if (transform(s, &v, epoch, g, b->images + (size_t)3 * S * S * i, err)) return -1;
    uint32_t tl;
    const char *text = m3ae_record_caption(&v, c, &tl); /* the cleaned question */
    int n = m3ae_tokenizer_encode(s->cfg.tokenizer, text, tl, ids_tmp, L, L, 1);
    if (n < 0)
        return m3ae_error_set(err, "sample %" PRIu64 " (%.*s): the tokenizer failed on the question", g,
                              (int)v.image_id_len, v.image_id);
    int32_t *ids = b->text_ids + (size_t)L * i, *mask = b->text_masks + (size_t)L * i;
    for (int p = 0; p < L; p++) {
        ids[p] = ids_tmp[p];
        mask[p] = p < n ? 1 : 0;
    }
    return 0;
}

static int build(void *ctx, m3ae_pipeline_worker *w, void *batch, int i, uint64_t epoch, uint64_t g, m3ae_error *err) {
    m3ae_record_view v;
    uint32_t c;
    if (m3ae_pipeline_read(w, g, &v, &c, err)) return -1;
    return m3ae_vqa_sample_build(ctx, &v, c, epoch, g, batch, i, m3ae_pipeline_worker_scratch(w), err);
}

static void finish(void *ctx, void *batch, uint64_t epoch, uint64_t position) {
    (void)ctx;
    m3ae_vqa_batch *b = batch;
    b->epoch = epoch, b->position = position;
    int64_t n = 0;
    for (int i = 0; i < b->B; i++) n += b->labels[i] >= 0;
    b->n_labelled = n;
}

m3ae_sampler m3ae_vqa_sampler_table(m3ae_vqa_sampler *s) {
    return (m3ae_sampler){.ctx = s,
                          .scratch_bytes = sizeof(int32_t) * (size_t)s->cfg.max_text_len,
                          .batch_alloc = batch_alloc,
                          .batch_free = batch_free,
                          .build = build,
                          .finish = finish};
}
