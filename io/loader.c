/* The pretraining loader (io/loader.h): the pipeline with the pretraining sampler, one lease held. */
#include "io/loader.h"

#include <stdlib.h>

struct m3ae_loader {
    m3ae_pretrain_sampler sampler; /* the pipeline's sampler ctx points here */
    m3ae_pipeline *p;
    const m3ae_loader_batch *current; /* leased; released by the next call */
};

m3ae_loader *m3ae_loader_open(const m3ae_loader_config *c, m3ae_error *err) {
    m3ae_loader *l = calloc(1, sizeof *l);
    if (!l) return m3ae_error_set(err, "out of memory"), NULL;
    m3ae_pretrain_sampler_config sc = {.tokenizer = c->tokenizer,
                                       .image_size = c->image_size,
                                       .patch_size = c->patch_size,
                                       .max_text_len = c->max_text_len,
                                       .mim_ratio = c->mim_ratio,
                                       .mlm_prob = c->mlm_prob,
                                       .mlm_mode = c->mlm_mode,
                                       .random_crop = c->random_crop,
                                       .seed = c->seed};
    m3ae_pipeline_config pc = {.data_dir = c->data_dir,
                               .batch_size = c->batch_size,
                               .seed = c->seed,
                               .rank = c->rank,
                               .world = c->world,
                               .threads = c->threads,
                               .leases = 1};
    if (m3ae_pretrain_sampler_init(&l->sampler, &sc, err) != 0) {
        free(l);
        return NULL;
    }
    m3ae_sampler table = m3ae_pretrain_sampler_table(&l->sampler);
    l->p = m3ae_pipeline_open(&pc, &table, err);
    if (!l->p) {
        free(l);
        return NULL;
    }
    return l;
}

void m3ae_loader_close(m3ae_loader *l) {
    if (!l) return;
    m3ae_pipeline_close(l->p);
    free(l);
}

int m3ae_loader_next(m3ae_loader *l, const m3ae_loader_batch **batch, m3ae_error *err) {
    if (l->current) m3ae_pipeline_release(l->p, l->current);
    l->current = NULL;
    void *b;
    int rc = m3ae_pipeline_lease(l->p, &b, err);
    *batch = l->current = b;
    return rc;
}

void m3ae_loader_get_state(const m3ae_loader *l, uint64_t *epoch, uint64_t *position) {
    m3ae_pipeline_get_state(l->p, epoch, position);
}

int m3ae_loader_set_state(m3ae_loader *l, uint64_t epoch, uint64_t position, m3ae_error *err) {
    return m3ae_pipeline_set_state(l->p, epoch, position, err);
}

uint64_t m3ae_loader_num_samples(const m3ae_loader *l) { return m3ae_pipeline_num_samples(l->p); }
uint64_t m3ae_loader_samples_per_rank(const m3ae_loader *l) { return m3ae_pipeline_samples_per_rank(l->p); }
uint64_t m3ae_loader_batches_per_epoch(const m3ae_loader *l) { return m3ae_pipeline_batches_per_epoch(l->p); }
