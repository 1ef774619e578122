/* The pretraining sampler (a m3ae_sampler of io/pipeline.h): per sample, the image through the CLIP
 * transform (resize shorter side, center or random-resized crop, normalise), the caption tokenized
 * and padded to max_text_len, the MLM, MIM and ITM draws of io/masks.h (pure functions of seed,
 * epoch and the global sample index: the same whatever the rank count, thread count or resume
 * point), and the ITM image (the sample's own or another sample's). Per batch: the labelled token
 * and removed patch counts (the loss denominators). */
#ifndef M3AE_IO_SAMPLERS_PRETRAIN_H
#define M3AE_IO_SAMPLERS_PRETRAIN_H

#include <stdint.h>

#include "common/error.h"
#include "io/pipeline.h"
#include "io/tokenizer.h"

typedef struct {
    const m3ae_tokenizer *tokenizer; /* borrowed; must outlive the sampler */
    int image_size;                  /* S (288 pretraining) */
    int patch_size;                  /* 16: N = (S/patch)^2 patches */
    int max_text_len;                /* L (64 pretraining) */
    double mim_ratio;                /* 0.75: keep m3ae_mim_keep_count(N, mim_ratio) patches */
    float mlm_prob;                  /* 0.15 */
    int mlm_mode;                    /* M3AE_MLM_OFFICIAL or M3AE_MLM_BERNOULLI (io/masks.h) */
    int random_crop;                 /* 1: clip_resizedcrop (M3AE_RNG_CROP), 0: clip */
    uint64_t seed;
} m3ae_pretrain_sampler_config;

/* One batch, read in place by the caller while leased. */
typedef struct {
    int B, S, L, N;
    float *images;            /* (B,3,S,S) CLIP-normalised */
    int32_t *text_ids;        /* (B,L) <s> ... </s> <pad>... */
    int32_t *text_masks;      /* (B,L) 1 for real tokens (incl. <s>, </s>), 0 for padding */
    int32_t *mlm_ids;         /* (B,L) text_ids with the MLM replacements */
    int32_t *mlm_labels;      /* (B,L) original id at masked positions, -100 elsewhere */
    float *mim_noise;         /* (B,N) uniform [0,1) */
    int32_t *mim_ids_shuffle; /* (B,N) stable ascending argsort of mim_noise */
    int32_t *itm_labels;      /* (B) 1 matched, 0 replaced */
    float *itm_images;        /* (B,3,S,S) images where label 1, another sample's image where 0 */
    int64_t *sample_ids;      /* (B) global sample indices */
    int64_t *itm_wrong_ids;   /* (B) the other sample drawn for ITM (its image used when label 0) */
    int64_t n_mlm_masked;     /* labelled tokens in the batch */
    int64_t n_mim_masked;     /* removed patches in the batch: B * (N - keep) */
    int mim_keep;             /* patches kept per sample: m3ae_mim_keep_count(N, mim_ratio) */
    uint64_t epoch, position; /* where this batch starts (pipeline state before it) */
} m3ae_pretrain_batch;

typedef struct {
    m3ae_pretrain_sampler_config cfg;
    int vocab, mask_id, N, keep;
} m3ae_pretrain_sampler;

/* Checks the configuration; 0, or -1 with err. */
int m3ae_pretrain_sampler_init(m3ae_pretrain_sampler *s, const m3ae_pretrain_sampler_config *cfg, m3ae_error *err);
/* The vtable over s (borrowed: s must outlive the pipeline). */
m3ae_sampler m3ae_pretrain_sampler_table(m3ae_pretrain_sampler *s);

#endif
