/* The pretraining sampler (io/samplers/pretrain.h): record -> transform -> tokens -> masks. */
#include "io/samplers/pretrain.h"

#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/facts.h"
#include "io/masks.h"
#include "io/samplers/common.h"

int m3ae_pretrain_sampler_init(m3ae_pretrain_sampler *s, const m3ae_pretrain_sampler_config *cfg, m3ae_error *err) {
    const m3ae_pretrain_sampler_config *c = cfg;
    if (!c->tokenizer || c->image_size < 1 || c->patch_size < 1 || c->image_size % c->patch_size ||
        c->max_text_len < 2 || !(c->mim_ratio >= 0 && c->mim_ratio < 1) || !(c->mlm_prob > 0 && c->mlm_prob <= 1))
        return m3ae_error_set(err, "bad pretraining sampler configuration (image %d/patch %d, text %d, mim %g, mlm %g)",
                              c->image_size, c->patch_size, c->max_text_len, c->mim_ratio, (double)c->mlm_prob);
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    s->vocab = m3ae_tokenizer_vocab_size(c->tokenizer);
    s->mask_id = m3ae_tokenizer_token_id(c->tokenizer, "<mask>");
    if (s->mask_id < 0) s->mask_id = m3ae_token_mask_id(s->vocab);
    int g = c->image_size / c->patch_size;
    s->N = g * g;
    s->keep = m3ae_mim_keep_count(s->N, c->mim_ratio);
    return 0;
}

static void *batch_alloc(void *ctx, int B) {
    const m3ae_pretrain_sampler *s = ctx;
    const int S = s->cfg.image_size, L = s->cfg.max_text_len, N = s->N;
    m3ae_pretrain_batch *b = m3ae_alloc(sizeof *b, "pretraining batch");
    b->B = B, b->S = S, b->L = L, b->N = N;
    b->mim_keep = s->keep;
    size_t img = (size_t)B * 3 * S * S;
    m3ae_sample_arrays_alloc(B, S, L, &b->images, &b->text_ids, &b->text_masks, &b->sample_ids);
    b->itm_images = m3ae_alloc(img * sizeof(float), "loader ITM images (B,3,S,S)");
    b->mlm_ids = m3ae_alloc((size_t)B * L * sizeof(int32_t), "loader MLM ids (B,L)");
    b->mlm_labels = m3ae_alloc((size_t)B * L * sizeof(int32_t), "loader MLM labels (B,L)");
    b->mim_noise = m3ae_alloc((size_t)B * N * sizeof(float), "loader MIM noise (B,N)");
    b->mim_ids_shuffle = m3ae_alloc((size_t)B * N * sizeof(int32_t), "loader MIM ids (B,N)");
    b->itm_labels = m3ae_alloc((size_t)B * sizeof(int32_t), "loader ITM labels (B)");
    b->itm_wrong_ids = m3ae_alloc((size_t)B * sizeof(int64_t), "loader ITM ids (B)");
    return b;
}

static void batch_free(void *ctx, void *batch) {
    (void)ctx;
    m3ae_pretrain_batch *b = batch;
    m3ae_sample_arrays_free(b->images, b->text_ids, b->text_masks, b->sample_ids);
    void *p[] = {b->itm_images, b->mlm_ids,    b->mlm_labels,   b->mim_noise,
                 b->mim_ids_shuffle, b->itm_labels, b->itm_wrong_ids};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++) m3ae_free(p[i]);
    m3ae_free(b);
}

static int build(void *ctx, m3ae_pipeline_worker *w, void *batch, int i, uint64_t epoch, uint64_t g, m3ae_error *err) {
    const m3ae_pretrain_sampler *s = ctx;
    m3ae_pretrain_batch *b = batch;
    const int S = b->S, L = b->L, N = b->N;
    const size_t img_n = (size_t)3 * S * S;
    int32_t *ids_tmp = m3ae_pipeline_worker_scratch(w); /* (L) */
    b->sample_ids[i] = (int64_t)g;
    m3ae_record_view v;
    uint32_t c;
    if (m3ae_pipeline_read(w, g, &v, &c, err)) return -1;
    const int crop = s->cfg.random_crop, size = s->cfg.image_size;
    if (m3ae_sample_image(&v, size, crop, s->cfg.seed, epoch, g, b->images + img_n * i, err)) return -1;
    int32_t *ids = b->text_ids + (size_t)L * i, *mask = b->text_masks + (size_t)L * i;
    if (m3ae_sample_text(s->cfg.tokenizer, &v, c, L, g, ids_tmp, ids, mask, err) < 0) return -1;
    m3ae_mlm_mask(s->cfg.seed, epoch, g, ids, L, s->vocab, s->mask_id, s->cfg.mlm_prob, s->cfg.mlm_mode,
                  m3ae_tokenizer_continuation_flags(s->cfg.tokenizer), b->mlm_ids + (size_t)L * i, b->mlm_labels + (size_t)L * i, NULL);
    m3ae_mim_noise(s->cfg.seed, epoch, g, N, b->mim_noise + (size_t)N * i, b->mim_ids_shuffle + (size_t)N * i);
    uint64_t wrong;
    m3ae_itm_draw(s->cfg.seed, epoch, g, m3ae_pipeline_worker_num_samples(w), &b->itm_labels[i], &wrong);
    b->itm_wrong_ids[i] = (int64_t)wrong;
    float *itm = b->itm_images + img_n * i;
    if (b->itm_labels[i] == 1) {
        memcpy(itm, b->images + img_n * i, img_n * sizeof(float));
    } else {
        if (m3ae_pipeline_read(w, wrong, &v, &c, err)) return -1;
        if (m3ae_sample_image(&v, size, crop, s->cfg.seed, epoch, wrong, itm, err)) return -1;
    }
    return 0;
}

static void finish(void *ctx, void *batch, uint64_t epoch, uint64_t position) {
    (void)ctx;
    m3ae_pretrain_batch *b = batch;
    b->epoch = epoch, b->position = position;
    int64_t mlm = 0;
    for (size_t k = 0; k < (size_t)b->B * b->L; k++) mlm += b->mlm_labels[k] != M3AE_IGNORE_INDEX;
    b->n_mlm_masked = mlm;
    b->n_mim_masked = (int64_t)b->B * (b->N - b->mim_keep);
}

m3ae_sampler m3ae_pretrain_sampler_table(m3ae_pretrain_sampler *s) {
    return (m3ae_sampler){.ctx = s,
                          .scratch_bytes = sizeof(int32_t) * (size_t)s->cfg.max_text_len,
                          .batch_alloc = batch_alloc,
                          .batch_free = batch_free,
                          .build = build,
                          .finish = finish};
}
