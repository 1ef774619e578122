/* The pretraining loader: a thin wrapper of the generic pipeline (io/pipeline.h: order, rank
 * striding, threads, state, leased slots) with the pretraining sampler (io/samplers/pretrain.h:
 * transform, tokens, masks) for callers that hold one batch at a time (m3ae bench loader, the loader
 * tests). The trainer uses the pipeline and the sampler directly, holding a step's micro-batches.
 * Order, state and per-sample content are documented in those two headers. */
#ifndef M3AE_IO_LOADER_H
#define M3AE_IO_LOADER_H

#include <stdint.h>

#include "common/error.h"
#include "io/pipeline.h"
#include "io/samplers/pretrain.h"
#include "io/tokenizer.h"

typedef struct {
    const char *data_dir;               /* a dataset written by `m3ae prep` */
    const m3ae_tokenizer *tokenizer;    /* borrowed; must outlive the loader */
    int batch_size;                     /* per rank */
    int image_size;                     /* S (288 pretraining) */
    int patch_size;                     /* 16: N = (S/patch)^2 patches */
    int max_text_len;                   /* L (64 pretraining) */
    double mim_ratio;                   /* 0.75; double as the model's mim_prob (one keep count) */
    float mlm_prob;                     /* 0.15 */
    int mlm_mode;                       /* M3AE_MLM_OFFICIAL or M3AE_MLM_BERNOULLI (io/masks.h) */
    int random_crop;                    /* 1: clip_resizedcrop (M3AE_RNG_CROP), 0: clip */
    uint64_t seed;
    int rank, world;
    int threads;                        /* loader threads (>= 1) */
} m3ae_loader_config;

typedef m3ae_pretrain_batch m3ae_loader_batch;

typedef struct m3ae_loader m3ae_loader;

m3ae_loader *m3ae_loader_open(const m3ae_loader_config *cfg, m3ae_error *err);
void m3ae_loader_close(m3ae_loader *l);
/* The next batch (valid until the next call or close). Returns 0, or -1 with err (a bad record,
 * naming shard and key). */
int m3ae_loader_next(m3ae_loader *l, const m3ae_loader_batch **batch, m3ae_error *err);
/* State of the next batch to be returned. */
void m3ae_loader_get_state(const m3ae_loader *l, uint64_t *epoch, uint64_t *position);
/* Restores a state (position is rounded down to a batch boundary of the global batch W * B). */
int m3ae_loader_set_state(m3ae_loader *l, uint64_t epoch, uint64_t position, m3ae_error *err);

uint64_t m3ae_loader_num_samples(const m3ae_loader *l);         /* in the dataset */
uint64_t m3ae_loader_samples_per_rank(const m3ae_loader *l);    /* per epoch: floor(n / W) */
uint64_t m3ae_loader_batches_per_epoch(const m3ae_loader *l);   /* floor(n / (W * B)): one micro-batch a step */

#endif
