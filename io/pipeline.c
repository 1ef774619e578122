/* The generic data pipeline (io/pipeline.h): shards -> records (CRC) -> the sampler's batches, in
 * the epoch order, on a pool of threads, into leased slots. */
#include "io/pipeline.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/rng.h"
#include "io/manifest.h"
#include "io/shard_cache.h"

enum { SLOT_FREE = 0, SLOT_FILLING, SLOT_LEASED };

typedef struct {
    void *batch;        /* the sampler's */
    int64_t *samples;   /* (B) global sample of each row */
    uint64_t epoch, position; /* where the batch starts (the state before it) */
    int state;
} slot;

struct m3ae_pipeline {
    m3ae_pipeline_config cfg;
    m3ae_sampler sampler;
    int n_shards;
    m3ae_shard **shards;
    m3ae_shard_cache *cache; /* which shards are open (all, unless file descriptors are short) */
    uint64_t *shard_rec_start;  /* (n_shards+1) first global record of each shard */
    uint64_t *rec_sample_start; /* (n_records+1) first global sample of each record */
    uint64_t n_records, n_samples, per_rank, steps, batches; /* steps: of the global batch */
    uint64_t accum; /* micro-batches per rank and step (>= 1) */

    /* order */
    uint32_t *perm;
    uint64_t perm_epoch;
    int perm_valid;
    uint64_t epoch, cursor; /* next batch to submit: rank-local cursor */

    /* leases + 1 slots: the caller's and one being filled */
    slot *slots;
    int n_slots, held;
    int inflight;      /* a job is running */
    int inflight_slot; /* its slot */

    /* pool */
    pthread_t *threads;
    int n_threads;
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
    uint64_t generation;
    int quit;
    slot *job;
    int job_next, job_done;
    int job_failed;
    m3ae_error job_err;
};

struct m3ae_pipeline_worker {
    m3ae_pipeline *p;
    m3ae_shard_reader **readers; /* per shard, lazily */
    int held;                    /* bounded cache: the one shard this thread holds a reader on, or -1 */
    void *scratch;
};

/* ------------------------------------------------------------------ order */

int m3ae_epoch_permutation(uint64_t seed, uint64_t epoch, uint64_t n, uint32_t *perm) {
    if (n > UINT32_MAX) return -1;
    for (uint64_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
    m3ae_rng r = m3ae_rng_make(seed, M3AE_RNG_ORDER, epoch, 0);
    for (uint64_t i = n; i-- > 1;) {
        uint32_t j = m3ae_rng_below(&r, i, (uint32_t)(i + 1));
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    return 0;
}

/* ------------------------------------------------------------------ records */

static uint64_t upper_bound(const uint64_t *a, uint64_t n, uint64_t x) {
    /* largest k in [0, n) with a[k] <= x (a ascending, a[0] = 0) */
    uint64_t lo = 0, hi = n;
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (a[mid] <= x)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

int m3ae_pipeline_read(m3ae_pipeline_worker *w, uint64_t sample, m3ae_record_view *v, uint32_t *caption,
                       m3ae_error *err) {
    const m3ae_pipeline *l = w->p;
    uint64_t rec = upper_bound(l->rec_sample_start, l->n_records, sample);
    while (rec + 1 < l->n_records && l->rec_sample_start[rec + 1] <= sample) rec++; /* skip empty */
    uint64_t sh = upper_bound(l->shard_rec_start, (uint64_t)l->n_shards, rec);
    while (sh + 1 < (uint64_t)l->n_shards && l->shard_rec_start[sh + 1] <= rec) sh++;
    if (!w->readers[sh]) {
        /* all shards open: readers stay for the run; otherwise a thread holds one shard at a time,
         * so that the cache can close the others */
        if (w->held >= 0) {
            m3ae_shard_reader_end(w->readers[w->held]);
            w->readers[w->held] = NULL;
            m3ae_shard_cache_release(l->cache, w->held);
            w->held = -1;
        }
        if (m3ae_shard_cache_acquire(l->cache, (int)sh, err)) return -1;
        w->readers[sh] = m3ae_shard_reader_begin(l->shards[sh], err);
        if (!w->readers[sh]) {
            m3ae_shard_cache_release(l->cache, (int)sh);
            return -1;
        }
        if (!m3ae_shard_cache_all_open(l->cache)) w->held = (int)sh;
    }
    if (m3ae_shard_read(w->readers[sh], rec - l->shard_rec_start[sh], 1, v, err)) return -1;
    *caption = (uint32_t)(sample - l->rec_sample_start[rec]);
    if (*caption >= v->n_captions)
        return m3ae_error_set(err, "shard '%s' key %" PRIu64 ": %u captions, the index promised more; corrupt",
                              m3ae_shard_name(l->shards[sh]), rec - l->shard_rec_start[sh], v->n_captions);
    return 0;
}

void *m3ae_pipeline_worker_scratch(m3ae_pipeline_worker *w) { return w->scratch; }
uint64_t m3ae_pipeline_worker_num_samples(const m3ae_pipeline_worker *w) { return w->p->n_samples; }

/* ------------------------------------------------------------------ pool */

static void *worker(void *arg) {
    m3ae_pipeline *l = arg;
    m3ae_pipeline_worker w = {.p = l, .readers = calloc((size_t)l->n_shards, sizeof(m3ae_shard_reader *)), .held = -1};
    if (l->sampler.scratch_bytes) w.scratch = malloc(l->sampler.scratch_bytes);
    int ok = w.readers && (w.scratch || !l->sampler.scratch_bytes);
    uint64_t seen = 0;
    for (;;) {
        pthread_mutex_lock(&l->mu);
        while (!l->quit && l->generation == seen) pthread_cond_wait(&l->work_cv, &l->mu);
        seen = l->generation;
        if (l->quit) {
            pthread_mutex_unlock(&l->mu);
            break;
        }
        slot *s = l->job;
        for (;;) {
            if (l->job_next >= l->cfg.batch_size || l->job_failed) break;
            int i = l->job_next++;
            pthread_mutex_unlock(&l->mu);
            m3ae_error e;
            int rc = !ok ? m3ae_error_set(&e, "out of memory in a loader thread")
                         : l->sampler.build(l->sampler.ctx, &w, s->batch, i, s->epoch, (uint64_t)s->samples[i], &e);
            pthread_mutex_lock(&l->mu);
            if (rc && !l->job_failed) {
                l->job_failed = 1;
                l->job_err = e;
            }
            l->job_done++;
        }
        /* all taken: the last finisher wakes the waiter (also when a failure stopped the taking) */
        if (l->job_done == l->job_next) pthread_cond_broadcast(&l->done_cv);
        pthread_mutex_unlock(&l->mu);
    }
    if (w.readers)
        for (int s = 0; s < l->n_shards; s++) m3ae_shard_reader_end(w.readers[s]);
    if (w.held >= 0) m3ae_shard_cache_release(l->cache, w.held);
    free(w.readers);
    free(w.scratch);
    return NULL;
}

static void compute_perm(m3ae_pipeline *l, uint64_t epoch) {
    if (l->perm_valid && l->perm_epoch == epoch) return;
    m3ae_epoch_permutation(l->cfg.seed, epoch, l->n_samples, l->perm);
    l->perm_epoch = epoch;
    l->perm_valid = 1;
}

/* Starts filling slot k with the batch at the current state (epoch, cursor). */
static void submit(m3ae_pipeline *l, int k) {
    slot *s = &l->slots[k];
    const int B = l->cfg.batch_size;
    compute_perm(l, l->epoch);
    s->epoch = l->epoch;
    s->position = l->cursor * (uint64_t)l->cfg.world;
    s->state = SLOT_FILLING;
    for (int i = 0; i < B; i++)
        s->samples[i] = (int64_t)m3ae_rank_sample(l->perm, l->cfg.rank, l->cfg.world, l->cursor + (uint64_t)i);
    /* advance the state past this batch */
    l->cursor += (uint64_t)B;
    if (l->cursor / (uint64_t)B >= l->batches) {
        l->epoch++;
        l->cursor = 0;
    }
    pthread_mutex_lock(&l->mu);
    l->job = s;
    l->job_next = l->job_done = 0;
    l->job_failed = 0;
    l->generation++;
    l->inflight = 1;
    l->inflight_slot = k;
    pthread_cond_broadcast(&l->work_cv);
    pthread_mutex_unlock(&l->mu);
}

/* Waits for the job in flight; returns its failure flag. */
static int wait_job(m3ae_pipeline *l, m3ae_error *err) {
    pthread_mutex_lock(&l->mu);
    while (!(l->job_done == l->job_next && (l->job_next >= l->cfg.batch_size || l->job_failed)))
        pthread_cond_wait(&l->done_cv, &l->mu);
    int failed = l->job_failed;
    if (failed && err) *err = l->job_err;
    l->inflight = 0;
    pthread_mutex_unlock(&l->mu);
    return failed;
}

static int free_slot(const m3ae_pipeline *l) {
    for (int k = 0; k < l->n_slots; k++)
        if (l->slots[k].state == SLOT_FREE) return k;
    return -1;
}

/* ------------------------------------------------------------------ public */

/* The dataset's shards and the sample index; 0, or -1 with err (the caller closes). */
static int open_dataset(m3ae_pipeline *l, m3ae_error *err) {
    const m3ae_pipeline_config *c = &l->cfg;
    m3ae_manifest m;
    if (m3ae_manifest_read(c->data_dir, &m, err)) return -1;
    l->n_shards = m.n_shards;
    l->shards = calloc((size_t)m.n_shards + 1, sizeof *l->shards);
    l->shard_rec_start = calloc((size_t)m.n_shards + 1, sizeof(uint64_t));
    l->rec_sample_start = malloc(sizeof(uint64_t) * (m.records + 1));
    int ok = l->shards && l->shard_rec_start && l->rec_sample_start;
    if (!ok) m3ae_error_set(err, "out of memory for the sample index of %" PRIu64 " records", m.records);
    /* decided before the first shard is opened: more shards than file descriptors are opened one
     * at a time here and lazily by the workers */
    if (ok && !(l->cache = m3ae_shard_cache_create(l->shards, m.n_shards, c->data_dir, err))) ok = 0;
    uint64_t rec = 0, smp = 0;
    for (int s = 0; ok && s < m.n_shards; s++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", c->data_dir, m.shards[s].name);
        m3ae_shard *sh = m3ae_shard_open(path, m.shards[s].name, err);
        if (!sh) {
            ok = 0;
            break;
        }
        m3ae_shard_cache_add(l->cache, s, sh);
        const m3ae_shard_schema *sc = m3ae_shard_info(l->shards[s]);
        if (sc->records != m.shards[s].records || sc->samples != m.shards[s].samples ||
            sc->checksum != m.shards[s].checksum) {
            m3ae_error_set(err, "shard '%s' does not match manifest.json (records, samples or checksum); the dataset "
                                "is mixed up, convert it again", m.shards[s].name);
            ok = 0;
            break;
        }
        l->shard_rec_start[s] = rec;
        const uint32_t *counts = m3ae_shard_caption_counts(l->shards[s]);
        for (uint64_t k = 0; k < sc->records; k++) {
            l->rec_sample_start[rec++] = smp;
            smp += counts[k];
        }
    }
    if (ok) {
        l->shard_rec_start[m.n_shards] = rec;
        l->rec_sample_start[rec] = smp;
        l->n_records = rec;
        l->n_samples = smp;
        l->per_rank = smp / (uint64_t)c->world;
        /* the epoch by the global batch, never rounded per rank: the same steps at every world size */
        l->steps = smp / ((uint64_t)c->world * (uint64_t)c->batch_size * l->accum);
        l->batches = l->steps * l->accum;
        if (smp > UINT32_MAX) {
            m3ae_error_set(err, "'%s' holds %" PRIu64 " samples; the loader supports up to 2^32-1", c->data_dir, smp);
            ok = 0;
        } else if (l->batches == 0) {
            m3ae_error_set(err, "'%s' holds %" PRIu64 " samples: fewer than one global batch of %" PRIu64 " (%d ranks x "
                                "%d x %" PRIu64 " micro-batches); lower the batch size or convert more data", c->data_dir,
                           smp, (uint64_t)c->world * (uint64_t)c->batch_size * l->accum, c->world, c->batch_size,
                           l->accum);
            ok = 0;
        }
    }
    m3ae_manifest_free(&m);
    if (ok) {
        l->perm = malloc(sizeof(uint32_t) * (l->n_samples ? l->n_samples : 1));
        if (!l->perm) ok = 0, m3ae_error_set(err, "out of memory for the epoch permutation");
    }
    return ok ? 0 : -1;
}

m3ae_pipeline *m3ae_pipeline_open(const m3ae_pipeline_config *cfg, const m3ae_sampler *sampler, m3ae_error *err) {
    const m3ae_pipeline_config *c = cfg;
    if (!c->data_dir || c->batch_size < 1 || c->accum < 0 || c->world < 1 || c->rank < 0 || c->rank >= c->world ||
        c->threads < 1 || c->leases < 1 || !sampler->batch_alloc || !sampler->build)
        return m3ae_error_set(err, "bad pipeline configuration (batch %d, rank %d of %d, threads %d, leases %d)",
                              c->batch_size, c->rank, c->world, c->threads, c->leases), NULL;
    m3ae_pipeline *l = calloc(1, sizeof *l);
    if (!l) return m3ae_error_set(err, "out of memory"), NULL;
    l->cfg = *cfg;
    l->accum = c->accum > 1 ? (uint64_t)c->accum : 1;
    l->sampler = *sampler;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->work_cv, NULL);
    pthread_cond_init(&l->done_cv, NULL);
    if (open_dataset(l, err) != 0) { /* m3ae_pipeline_close frees what was made so far: no threads, no slots */
        m3ae_pipeline_close(l);
        return NULL;
    }
    l->n_slots = c->leases + 1;
    l->slots = calloc((size_t)l->n_slots, sizeof *l->slots);
    if (!l->slots) {
        m3ae_error_set(err, "out of memory");
        m3ae_pipeline_close(l);
        return NULL;
    }
    for (int k = 0; k < l->n_slots; k++) {
        l->slots[k].batch = sampler->batch_alloc(sampler->ctx, c->batch_size);
        l->slots[k].samples = m3ae_alloc((size_t)c->batch_size * sizeof(int64_t), "pipeline sample ids (B)");
    }
    l->threads = calloc((size_t)c->threads, sizeof(pthread_t));
    for (int t = 0; l->threads && t < c->threads; t++) {
        if (pthread_create(&l->threads[t], NULL, worker, l) != 0) break;
        l->n_threads++;
    }
    if (l->n_threads == 0) {
        m3ae_error_set(err, "cannot start loader threads");
        m3ae_pipeline_close(l);
        return NULL;
    }
    return l;
}

void m3ae_pipeline_close(m3ae_pipeline *l) {
    if (!l) return;
    if (l->inflight) wait_job(l, NULL);
    pthread_mutex_lock(&l->mu);
    l->quit = 1;
    pthread_cond_broadcast(&l->work_cv);
    pthread_mutex_unlock(&l->mu);
    for (int t = 0; t < l->n_threads; t++) pthread_join(l->threads[t], NULL);
    free(l->threads);
    for (int k = 0; l->slots && k < l->n_slots; k++) {
        if (l->slots[k].batch) l->sampler.batch_free(l->sampler.ctx, l->slots[k].batch);
        m3ae_free(l->slots[k].samples);
    }
    free(l->slots);
    for (int s = 0; l->shards && s < l->n_shards; s++) m3ae_shard_close(l->shards[s]);
    m3ae_shard_cache_destroy(l->cache);
    free(l->shards);
    free(l->shard_rec_start);
    free(l->rec_sample_start);
    free(l->perm);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->work_cv);
    pthread_cond_destroy(&l->done_cv);
    free(l);
}

int m3ae_pipeline_lease(m3ae_pipeline *l, void **batch, m3ae_error *err) {
    *batch = NULL;
    M3AE_CHECK(l->held < l->cfg.leases, M3AE_EXIT_FAIL, "pipeline: %d batches leased already (the most: %d); "
               "release one first", l->held, l->cfg.leases);
    if (!l->inflight) submit(l, free_slot(l)); /* held < leases: a slot is free */
    int k = l->inflight_slot;
    slot *s = &l->slots[k];
    if (wait_job(l, err)) {
        /* roll the state back to the failed batch, so that a retry or a report names it */
        l->epoch = s->epoch;
        l->cursor = s->position / (uint64_t)l->cfg.world;
        s->state = SLOT_FREE;
        return -1;
    }
    if (l->sampler.finish) l->sampler.finish(l->sampler.ctx, s->batch, s->epoch, s->position);
    s->state = SLOT_LEASED;
    l->held++;
    submit(l, free_slot(l)); /* prefetch the next batch while the caller works (held <= leases < slots) */
    *batch = s->batch;
    return 0;
}

void m3ae_pipeline_release(m3ae_pipeline *l, const void *batch) {
    for (int k = 0; k < l->n_slots; k++)
        if (l->slots[k].batch == batch && l->slots[k].state == SLOT_LEASED) {
            l->slots[k].state = SLOT_FREE;
            l->held--;
            return;
        }
    M3AE_FATAL(M3AE_EXIT_FAIL, "pipeline: a batch released that is not leased");
}

void m3ae_pipeline_get_state(const m3ae_pipeline *l, uint64_t *epoch, uint64_t *position) {
    /* the state of the next batch to be leased: the one in flight if any */
    if (l->inflight) {
        *epoch = l->slots[l->inflight_slot].epoch;
        *position = l->slots[l->inflight_slot].position;
    } else {
        *epoch = l->epoch;
        *position = l->cursor * (uint64_t)l->cfg.world;
    }
}

int m3ae_pipeline_set_state(m3ae_pipeline *l, uint64_t epoch, uint64_t position, m3ae_error *err) {
    if (l->inflight) { /* discard the prefetched batch */
        wait_job(l, NULL);
        l->slots[l->inflight_slot].state = SLOT_FREE;
    }
    /* round down to a step boundary of this run's global batch (a multiple of G for any world size
     * when the global batch is unchanged) */
    const uint64_t G = (uint64_t)l->cfg.world * (uint64_t)l->cfg.batch_size * l->accum;
    uint64_t step = position / G;
    if (step >= l->steps)
        return m3ae_error_set(err, "loader state (epoch %" PRIu64 ", position %" PRIu64 ") is past the end of an epoch "
                                   "(%" PRIu64 " steps of a global batch of %" PRIu64 "); the checkpoint belongs to "
                                   "another dataset or batch size", epoch, position, l->steps, G);
    l->epoch = epoch;
    l->cursor = step * G / (uint64_t)l->cfg.world;
    return 0;
}

uint64_t m3ae_pipeline_num_samples(const m3ae_pipeline *l) { return l->n_samples; }
uint64_t m3ae_pipeline_samples_per_rank(const m3ae_pipeline *l) { return l->per_rank; }
uint64_t m3ae_pipeline_steps_per_epoch(const m3ae_pipeline *l) { return l->steps; }
uint64_t m3ae_pipeline_batches_per_epoch(const m3ae_pipeline *l) { return l->batches; }
