/* The pretraining data loader: samples = (image, caption) pairs of a converted dataset (io/FORMAT.md),
 * numbered globally across shards in manifest order (shard, record key, caption).
 *
 * Order: each epoch is a permutation of all samples, a pure function of (seed, epoch)
 * (m3ae_epoch_permutation: Fisher-Yates, common/rng.h M3AE_RNG_ORDER). Rank r of W takes the
 * permutation's positions r, r+W, r+2W, ...; every rank gets floor(n/W) samples an epoch (the tail
 * is dropped) and floor(n/W)/B batches (a partial last batch is dropped).
 *
 * State: (epoch, position) of the next batch, where position counts permutation positions consumed
 * by all ranks together (= rank-local cursor * W). Save it with a checkpoint and restore it with
 * m3ae_loader_set_state to continue exactly where the run stopped.
 *
 * A pool of threads reads records (CRC checked: a bad record stops with an error naming shard and
 * key), transforms images (CLIP: resize shorter side, center crop, normalise), tokenizes captions
 * (padded to max_text_len) and draws the masks (io/masks.h) of the next batch while the caller
 * works on the current one (double buffering). */
#ifndef M3AE_IO_LOADER_H
#define M3AE_IO_LOADER_H

#include <stdint.h>

#include "common/error.h"
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
    uint64_t epoch, position; /* where this batch starts (loader state before it) */
} m3ae_loader_batch;

typedef struct m3ae_loader m3ae_loader;

m3ae_loader *m3ae_loader_open(const m3ae_loader_config *cfg, m3ae_error *err);
void m3ae_loader_close(m3ae_loader *l);
/* The next batch (valid until the next call or close). Returns 0, or -1 with err (a bad record,
 * naming shard and key). */
int m3ae_loader_next(m3ae_loader *l, const m3ae_loader_batch **batch, m3ae_error *err);
/* State of the next batch to be returned. */
void m3ae_loader_get_state(const m3ae_loader *l, uint64_t *epoch, uint64_t *position);
/* Restores a state (position is rounded down to a batch boundary of this rank count). */
int m3ae_loader_set_state(m3ae_loader *l, uint64_t epoch, uint64_t position, m3ae_error *err);

uint64_t m3ae_loader_num_samples(const m3ae_loader *l);         /* in the dataset */
uint64_t m3ae_loader_samples_per_rank(const m3ae_loader *l);    /* per epoch: floor(n / W) */
uint64_t m3ae_loader_batches_per_epoch(const m3ae_loader *l);   /* floor(samples_per_rank / B) */

/* The epoch permutation (perm has n entries, n < 2^32): Fisher-Yates from the end,
 * i = n-1 .. 1: j = below(i+1) with word i of rng(seed, M3AE_RNG_ORDER, epoch, 0); swap. */
int m3ae_epoch_permutation(uint64_t seed, uint64_t epoch, uint64_t n, uint32_t *perm);
/* Sample of rank `rank` (of world) at its local cursor j in that epoch's permutation. */
static inline uint64_t m3ae_rank_sample(const uint32_t *perm, int rank, int world, uint64_t j) {
    return perm[(uint64_t)rank + (uint64_t)world * j];
}

#endif
