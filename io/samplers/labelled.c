/* The labelled sampler (io/samplers/labelled.h): record -> transform -> text tokens -> label. */
#include "io/samplers/labelled.h"

#include <inttypes.h>
#include <string.h>

#include "common/arena.h"
#include "io/samplers/common.h"

int m3ae_label_sampler_init(m3ae_label_sampler *s, const m3ae_label_sampler_config *cfg, m3ae_error *err) {
    const m3ae_label_sampler_config *c = cfg;
    if (!c->tokenizer || c->image_size < 1 || c->max_text_len < 2 || c->n_labels < 1)
        return m3ae_error_set(err, "bad labelled sampler configuration (image %d, text %d, %d labels)", c->image_size,
                              c->max_text_len, c->n_labels);
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    return 0;
}

static void *batch_alloc(void *ctx, int B) {
    const m3ae_label_sampler *s = ctx;
    const int S = s->cfg.image_size, L = s->cfg.max_text_len;
    m3ae_label_batch *b = m3ae_alloc(sizeof *b, "labelled batch");
    b->B = B, b->S = S, b->L = L;
    m3ae_sample_arrays_alloc(B, S, L, &b->images, &b->text_ids, &b->text_masks, &b->sample_ids);
    b->labels = m3ae_alloc((size_t)B * sizeof(int32_t), "loader labels (B)");
    return b;
}

static void batch_free(void *ctx, void *batch) {
    (void)ctx;
    m3ae_label_batch *b = batch;
    m3ae_sample_arrays_free(b->images, b->text_ids, b->text_masks, b->sample_ids);
    m3ae_free(b->labels);
    m3ae_free(b);
}

void *m3ae_label_batch_alloc(const m3ae_label_sampler *s, int B) { return batch_alloc((void *)s, B); }
void m3ae_label_batch_free(void *batch) { batch_free(NULL, batch); }

int m3ae_label_sample_build(const m3ae_label_sampler *s, const m3ae_record_view *v, uint32_t c, uint64_t epoch,
                            uint64_t g, m3ae_label_batch *b, int i, int32_t *scratch, m3ae_error *err) {
    const int S = b->S, L = b->L;
    b->sample_ids[i] = (int64_t)g;
    if (v->label >= s->cfg.n_labels)
        return m3ae_error_set(err, "sample %" PRIu64 " (%.*s): label %d is outside the dataset's %d labels (a corrupt "
                              "dataset: re-run m3ae prep)", g, (int)v->image_id_len, v->image_id, v->label, s->cfg.n_labels);
    b->labels[i] = v->label < 0 ? -1 : v->label;
    if (m3ae_sample_image(v, s->cfg.image_size, s->cfg.random_crop, s->cfg.seed, epoch, g, b->images + (size_t)3 * S * S * i,
                          err))
        return -1;
    int32_t *ids = b->text_ids + (size_t)L * i, *mask = b->text_masks + (size_t)L * i;
    return m3ae_sample_text(s->cfg.tokenizer, v, c, L, g, scratch, ids, mask, err) < 0 ? -1 : 0;
}

static int build(void *ctx, m3ae_pipeline_worker *w, void *batch, int i, uint64_t epoch, uint64_t g, m3ae_error *err) {
    m3ae_record_view v;
    uint32_t c;
    if (m3ae_pipeline_read(w, g, &v, &c, err)) return -1;
    return m3ae_label_sample_build(ctx, &v, c, epoch, g, batch, i, m3ae_pipeline_worker_scratch(w), err);
}

static void finish(void *ctx, void *batch, uint64_t epoch, uint64_t position) {
    (void)ctx;
    m3ae_label_batch *b = batch;
    b->epoch = epoch, b->position = position;
    int64_t n = 0;
    for (int i = 0; i < b->B; i++) n += b->labels[i] >= 0;
    b->n_labelled = n;
}

m3ae_sampler m3ae_label_sampler_table(m3ae_label_sampler *s) {
    return (m3ae_sampler){.ctx = s,
                          .scratch_bytes = sizeof(int32_t) * (size_t)s->cfg.max_text_len,
                          .batch_alloc = batch_alloc,
                          .batch_free = batch_free,
                          .build = build,
                          .finish = finish};
}
