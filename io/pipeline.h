/* The generic data pipeline: samples = (record, caption) pairs of a converted dataset
 * (io/FORMAT.md), numbered globally across shards in manifest order (shard, record key, caption),
 * turned into batches by a task's sampler (io/samplers/).
 *
 * Order: each epoch is a permutation of all samples, a pure function of (seed, epoch)
 * (m3ae_epoch_permutation: Fisher-Yates, common/rng.h M3AE_RNG_ORDER). An epoch is defined by the
 * GLOBAL batch G = W * B * accum (ranks x micro-batch x micro-batches per optimizer step): it holds
 * floor(n / G) steps, and the tail of the permutation is dropped; step s of the epoch takes the
 * permutation's positions [s*G, (s+1)*G). Within a step, micro-batch k of rank r takes row i from
 * position s*G + k*W*B + i*W + r, so after micro-batch k of every rank the consumed positions are a
 * prefix of the permutation. The same global sequence of samples, step by step, whatever the world
 * size (a sample's content is a function of (seed, epoch, sample), io/samplers/): a run can resume at
 * another rank count with the same global batch and continue the same data order.
 *
 * State: (epoch, position) of the next batch, where position is the GLOBAL permutation position
 * (positions consumed by all ranks together = rank-local cursor * W); at a step boundary it is the
 * same for every world size. Save it with a checkpoint and restore it with m3ae_pipeline_set_state
 * to continue exactly where the run stopped.
 *
 * Batches are LEASED: m3ae_pipeline_lease hands out a slot that the caller reads in place until it
 * gives it back with m3ae_pipeline_release; up to `leases` may be held at once (a training step with
 * gradient accumulation holds all its micro-batches). One more slot is filled by a pool of threads
 * while the caller works (CRC-checked record reads: a bad record stops with an error naming shard and
 * key); the sampler builds each sample of a slot, one sample per thread at a time. */
#ifndef M3AE_IO_PIPELINE_H
#define M3AE_IO_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "io/shard.h"

/* What one worker thread gives a sampler: record reads and per-thread scratch memory. */
typedef struct m3ae_pipeline_worker m3ae_pipeline_worker;

/* Reads global sample `sample`: its record (CRC checked) and the index of its caption in it.
 * The view is valid until the worker's next read. Returns 0, or -1 with err. */
int m3ae_pipeline_read(m3ae_pipeline_worker *w, uint64_t sample, m3ae_record_view *v, uint32_t *caption,
                       m3ae_error *err);
/* The sampler's scratch of this thread (scratch_bytes of m3ae_sampler, malloc-aligned). */
void *m3ae_pipeline_worker_scratch(m3ae_pipeline_worker *w);
/* Samples in the dataset (for draws of another sample, e.g. the ITM wrong image). */
uint64_t m3ae_pipeline_worker_num_samples(const m3ae_pipeline_worker *w);

/* A task's per-sample work: a small vtable over its own batch type. */
typedef struct {
    void *ctx;
    size_t scratch_bytes; /* per worker thread */
    /* one slot's batch of B samples (fatal on out of memory) */
    void *(*batch_alloc)(void *ctx, int B);
    void (*batch_free)(void *ctx, void *batch);
    /* sample i of batch is global sample `sample` of `epoch`; returns 0, or -1 with err */
    int (*build)(void *ctx, m3ae_pipeline_worker *w, void *batch, int i, uint64_t epoch, uint64_t sample,
                 m3ae_error *err);
    /* after every sample is built: where the batch starts and its summaries (e.g. labelled tokens) */
    void (*finish)(void *ctx, void *batch, uint64_t epoch, uint64_t position);
} m3ae_sampler;

typedef struct {
    const char *data_dir; /* a dataset written by `m3ae prep` */
    int batch_size;       /* per rank: the micro-batch B */
    int accum;            /* micro-batches per rank and optimizer step (0 counts as 1): G = W * B * accum */
    uint64_t seed;
    int rank, world;
    int threads; /* worker threads (>= 1) */
    int leases;  /* batches the caller may hold at once (>= 1) */
} m3ae_pipeline_config;

typedef struct m3ae_pipeline m3ae_pipeline;

/* sampler is copied (its ctx is borrowed and must outlive the pipeline). */
m3ae_pipeline *m3ae_pipeline_open(const m3ae_pipeline_config *cfg, const m3ae_sampler *sampler, m3ae_error *err);
/* Releases everything, leased batches included. */
void m3ae_pipeline_close(m3ae_pipeline *p);
/* The next batch, valid until released. Returns 0, or -1 with err (a bad record, naming shard and
 * key: the state stays at that batch). Fatal when more than `leases` would be held. */
int m3ae_pipeline_lease(m3ae_pipeline *p, void **batch, m3ae_error *err);
void m3ae_pipeline_release(m3ae_pipeline *p, const void *batch);
/* State of the next batch to be leased. */
void m3ae_pipeline_get_state(const m3ae_pipeline *p, uint64_t *epoch, uint64_t *position);
/* Restores a state (position is rounded down to a step boundary, a multiple of the global batch G:
 * check with get_state); a batch being prefetched is dropped, leased ones stay valid. A position at
 * or past the epoch's last step is refused. */
int m3ae_pipeline_set_state(m3ae_pipeline *p, uint64_t epoch, uint64_t position, m3ae_error *err);

uint64_t m3ae_pipeline_num_samples(const m3ae_pipeline *p);       /* in the dataset */
uint64_t m3ae_pipeline_samples_per_rank(const m3ae_pipeline *p);  /* floor(n / W): what a rank could read */
uint64_t m3ae_pipeline_steps_per_epoch(const m3ae_pipeline *p);   /* floor(n / G) */
uint64_t m3ae_pipeline_batches_per_epoch(const m3ae_pipeline *p); /* per rank: steps_per_epoch * accum */

/* The epoch permutation (perm has n entries, n < 2^32): Fisher-Yates from the end,
 * i = n-1 .. 1: j = below(i+1) with word i of rng(seed, M3AE_RNG_ORDER, epoch, 0); swap. */
int m3ae_epoch_permutation(uint64_t seed, uint64_t epoch, uint64_t n, uint32_t *perm);
/* Sample of rank `rank` (of world) at its local cursor j in that epoch's permutation. */
static inline uint64_t m3ae_rank_sample(const uint32_t *perm, int rank, int world, uint64_t j) {
    return perm[(uint64_t)rank + (uint64_t)world * j];
}

#endif
