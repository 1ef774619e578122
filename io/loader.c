/* The pretraining loader (io/loader.h): shards -> records (CRC) -> transform -> tokens -> masks. */
#include "io/loader.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/rng.h"
#include "io/image.h"
#include "io/image_transform.h"
#include "io/manifest.h"
#include "io/masks.h"
#include "io/shard.h"

typedef struct {
    m3ae_loader_batch b;
} slot;

struct m3ae_loader {
    m3ae_loader_config cfg;
    int n_shards;
    m3ae_shard **shards;
    uint64_t *shard_rec_start; /* (n_shards+1) first global record of each shard */
    uint64_t *rec_sample_start; /* (n_records+1) first global sample of each record */
    uint64_t n_records, n_samples, per_rank, batches;
    int vocab, mask_id;

    /* order */
    uint32_t *perm;
    uint64_t perm_epoch;
    int perm_valid;
    uint64_t epoch, cursor; /* next batch: rank-local cursor */

    /* double buffer */
    slot slots[2];
    int inflight;      /* a job is running */
    int inflight_slot; /* its slot */

    /* pool */
    pthread_t *threads;
    int n_threads;
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
    uint64_t generation;
    int quit;
    m3ae_loader_batch *job;
    int job_next, job_done;
    int job_failed;
    m3ae_error job_err;
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

/* ------------------------------------------------------------------ one sample */

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

typedef struct {
    m3ae_shard_reader **readers; /* per shard, lazily */
} worker_ctx;

static int read_sample(m3ae_loader *l, worker_ctx *w, uint64_t sample, m3ae_record_view *v, uint32_t *caption,
                       m3ae_error *err) {
    uint64_t rec = upper_bound(l->rec_sample_start, l->n_records, sample);
    while (rec + 1 < l->n_records && l->rec_sample_start[rec + 1] <= sample) rec++; /* skip empty */
    uint64_t sh = upper_bound(l->shard_rec_start, (uint64_t)l->n_shards, rec);
    while (sh + 1 < (uint64_t)l->n_shards && l->shard_rec_start[sh + 1] <= rec) sh++;
    if (!w->readers[sh]) {
        w->readers[sh] = m3ae_shard_reader_begin(l->shards[sh], err);
        if (!w->readers[sh]) return -1;
    }
    if (m3ae_shard_read(w->readers[sh], rec - l->shard_rec_start[sh], 1, v, err)) return -1;
    *caption = (uint32_t)(sample - l->rec_sample_start[rec]);
    if (*caption >= v->n_captions)
        return m3ae_error_set(err, "shard '%s' key %" PRIu64 ": %u captions, the index promised more; corrupt",
                              m3ae_shard_name(l->shards[sh]), rec - l->shard_rec_start[sh], v->n_captions);
    return 0;
}

static int transform(m3ae_loader *l, const m3ae_record_view *v, uint64_t epoch, uint64_t sample, float *out,
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
    if (l->cfg.random_crop) {
        m3ae_rng r = m3ae_rng_make(l->cfg.seed, M3AE_RNG_CROP, epoch, sample);
        rc = m3ae_transform_clip_resizedcrop(&img, l->cfg.image_size, &r, out, err);
    } else {
        rc = m3ae_transform_clip(&img, l->cfg.image_size, out, err);
    }
    free(rgb);
    return rc;
}

static int build_sample(m3ae_loader *l, worker_ctx *w, m3ae_loader_batch *b, int i, int32_t *ids_tmp, m3ae_error *err) {
    const int S = b->S, L = b->L, N = b->N;
    const size_t img_n = (size_t)3 * S * S;
    uint64_t g = (uint64_t)b->sample_ids[i], epoch = b->epoch;
    m3ae_record_view v;
    uint32_t c;
    if (read_sample(l, w, g, &v, &c, err)) return -1;
    if (transform(l, &v, epoch, g, b->images + img_n * i, err)) return -1;
    uint32_t tl;
    const char *text = m3ae_record_caption(&v, c, &tl);
    int n = m3ae_tokenizer_encode(l->cfg.tokenizer, text, tl, ids_tmp, L, L, 1);
    if (n < 0)
        return m3ae_error_set(err, "sample %" PRIu64 " (%.*s): the tokenizer failed", g, (int)v.image_id_len,
                              v.image_id);
    int32_t *ids = b->text_ids + (size_t)L * i, *mask = b->text_masks + (size_t)L * i;
    for (int p = 0; p < L; p++) {
        ids[p] = ids_tmp[p];
        mask[p] = p < n ? 1 : 0;
    }
    m3ae_mlm_mask(l->cfg.seed, epoch, g, ids, L, l->vocab, l->mask_id, l->cfg.mlm_prob, l->cfg.mlm_mode,
                  m3ae_tokenizer_continuation_flags(l->cfg.tokenizer), b->mlm_ids + (size_t)L * i,
                  b->mlm_labels + (size_t)L * i, NULL);
    m3ae_mim_noise(l->cfg.seed, epoch, g, N, b->mim_noise + (size_t)N * i, b->mim_ids_shuffle + (size_t)N * i);
    uint64_t wrong;
    m3ae_itm_draw(l->cfg.seed, epoch, g, l->n_samples, &b->itm_labels[i], &wrong);
    b->itm_wrong_ids[i] = (int64_t)wrong;
    float *itm = b->itm_images + img_n * i;
    if (b->itm_labels[i] == 1) {
        memcpy(itm, b->images + img_n * i, img_n * sizeof(float));
    } else {
        if (read_sample(l, w, wrong, &v, &c, err)) return -1;
        if (transform(l, &v, epoch, wrong, itm, err)) return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ pool */

static void *worker(void *arg) {
    m3ae_loader *l = arg;
    worker_ctx w = {.readers = calloc((size_t)l->n_shards, sizeof(m3ae_shard_reader *))};
    int32_t *ids_tmp = malloc(sizeof(int32_t) * (size_t)l->cfg.max_text_len);
    uint64_t seen = 0;
    for (;;) {
        pthread_mutex_lock(&l->mu);
        while (!l->quit && l->generation == seen) pthread_cond_wait(&l->work_cv, &l->mu);
        seen = l->generation;
        if (l->quit) {
            pthread_mutex_unlock(&l->mu);
            break;
        }
        m3ae_loader_batch *b = l->job;
        for (;;) {
            if (l->job_next >= b->B || l->job_failed) break;
            int i = l->job_next++;
            pthread_mutex_unlock(&l->mu);
            m3ae_error e;
            int rc = (!w.readers || !ids_tmp) ? m3ae_error_set(&e, "out of memory in a loader thread")
                                              : build_sample(l, &w, b, i, ids_tmp, &e);
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
    free(w.readers);
    free(ids_tmp);
    return NULL;
}

static void compute_perm(m3ae_loader *l, uint64_t epoch) {
    if (l->perm_valid && l->perm_epoch == epoch) return;
    m3ae_epoch_permutation(l->cfg.seed, epoch, l->n_samples, l->perm);
    l->perm_epoch = epoch;
    l->perm_valid = 1;
}

/* Starts filling slot s with the batch at the current state (epoch, cursor). */
static void submit(m3ae_loader *l, int s) {
    m3ae_loader_batch *b = &l->slots[s].b;
    compute_perm(l, l->epoch);
    b->epoch = l->epoch;
    b->position = l->cursor * (uint64_t)l->cfg.world;
    for (int i = 0; i < b->B; i++)
        b->sample_ids[i] = (int64_t)m3ae_rank_sample(l->perm, l->cfg.rank, l->cfg.world, l->cursor + (uint64_t)i);
    /* advance the state past this batch */
    l->cursor += (uint64_t)b->B;
    if (l->cursor / (uint64_t)b->B >= l->batches) {
        l->epoch++;
        l->cursor = 0;
    }
    pthread_mutex_lock(&l->mu);
    l->job = b;
    l->job_next = l->job_done = 0;
    l->job_failed = 0;
    l->generation++;
    l->inflight = 1;
    l->inflight_slot = s;
    pthread_cond_broadcast(&l->work_cv);
    pthread_mutex_unlock(&l->mu);
}

/* Waits for the job in flight; returns its failure flag. */
static int wait_job(m3ae_loader *l, m3ae_error *err) {
    pthread_mutex_lock(&l->mu);
    while (!(l->job_done == l->job_next && (l->job_next >= l->job->B || l->job_failed)))
        pthread_cond_wait(&l->done_cv, &l->mu);
    int failed = l->job_failed;
    if (failed && err) *err = l->job_err;
    l->inflight = 0;
    pthread_mutex_unlock(&l->mu);
    return failed;
}

/* ------------------------------------------------------------------ public */

static int alloc_batch(m3ae_loader_batch *b, int B, int S, int L, int N) {
    b->B = B, b->S = S, b->L = L, b->N = N;
    size_t img = (size_t)B * 3 * S * S;
    b->images = m3ae_alloc(img * sizeof(float), "loader images (B,3,S,S)");
    b->itm_images = m3ae_alloc(img * sizeof(float), "loader ITM images (B,3,S,S)");
    b->text_ids = m3ae_alloc((size_t)B * L * sizeof(int32_t), "loader text ids (B,L)");
    b->text_masks = m3ae_alloc((size_t)B * L * sizeof(int32_t), "loader text masks (B,L)");
    b->mlm_ids = m3ae_alloc((size_t)B * L * sizeof(int32_t), "loader MLM ids (B,L)");
    b->mlm_labels = m3ae_alloc((size_t)B * L * sizeof(int32_t), "loader MLM labels (B,L)");
    b->mim_noise = m3ae_alloc((size_t)B * N * sizeof(float), "loader MIM noise (B,N)");
    b->mim_ids_shuffle = m3ae_alloc((size_t)B * N * sizeof(int32_t), "loader MIM ids (B,N)");
    b->itm_labels = m3ae_alloc((size_t)B * sizeof(int32_t), "loader ITM labels (B)");
    b->sample_ids = m3ae_alloc((size_t)B * sizeof(int64_t), "loader sample ids (B)");
    b->itm_wrong_ids = m3ae_alloc((size_t)B * sizeof(int64_t), "loader ITM ids (B)");
    return 0;
}

static void free_batch(m3ae_loader_batch *b) {
    m3ae_free(b->images);
    m3ae_free(b->itm_images);
    m3ae_free(b->text_ids);
    m3ae_free(b->text_masks);
    m3ae_free(b->mlm_ids);
    m3ae_free(b->mlm_labels);
    m3ae_free(b->mim_noise);
    m3ae_free(b->mim_ids_shuffle);
    m3ae_free(b->itm_labels);
    m3ae_free(b->sample_ids);
    m3ae_free(b->itm_wrong_ids);
}

m3ae_loader *m3ae_loader_open(const m3ae_loader_config *cfg, m3ae_error *err) {
    const m3ae_loader_config *c = cfg;
    if (!c->data_dir || !c->tokenizer || c->batch_size < 1 || c->image_size < 1 || c->patch_size < 1 ||
        c->image_size % c->patch_size || c->max_text_len < 2 || c->world < 1 || c->rank < 0 || c->rank >= c->world ||
        c->threads < 1 || !(c->mim_ratio >= 0 && c->mim_ratio < 1) || !(c->mlm_prob > 0 && c->mlm_prob <= 1))
        return m3ae_error_set(err, "bad loader configuration (batch %d, image %d/patch %d, text %d, rank %d of %d, "
                                   "threads %d)", c->batch_size, c->image_size, c->patch_size, c->max_text_len,
                              c->rank, c->world, c->threads), NULL;
    m3ae_loader *l = calloc(1, sizeof *l);
    if (!l) return m3ae_error_set(err, "out of memory"), NULL;
    l->cfg = *cfg;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->work_cv, NULL);
    pthread_cond_init(&l->done_cv, NULL);
    l->vocab = m3ae_tokenizer_vocab_size(c->tokenizer);
    l->mask_id = m3ae_tokenizer_token_id(c->tokenizer, "<mask>");
    if (l->mask_id < 0) l->mask_id = l->vocab - 1;

    m3ae_manifest m;
    if (m3ae_manifest_read(c->data_dir, &m, err)) {
        free(l);
        return NULL;
    }
    l->n_shards = m.n_shards;
    l->shards = calloc((size_t)m.n_shards + 1, sizeof *l->shards);
    l->shard_rec_start = calloc((size_t)m.n_shards + 1, sizeof(uint64_t));
    l->rec_sample_start = malloc(sizeof(uint64_t) * (m.records + 1));
    int ok = l->shards && l->shard_rec_start && l->rec_sample_start;
    if (!ok) m3ae_error_set(err, "out of memory for the sample index of %" PRIu64 " records", m.records);
    uint64_t rec = 0, smp = 0;
    for (int s = 0; ok && s < m.n_shards; s++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", c->data_dir, m.shards[s].name);
        l->shards[s] = m3ae_shard_open(path, m.shards[s].name, err);
        if (!l->shards[s]) {
            ok = 0;
            break;
        }
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
        l->batches = l->per_rank / (uint64_t)c->batch_size;
        if (smp > UINT32_MAX) {
            m3ae_error_set(err, "'%s' holds %" PRIu64 " samples; the loader supports up to 2^32-1", c->data_dir, smp);
            ok = 0;
        } else if (l->batches == 0) {
            m3ae_error_set(err, "'%s' holds %" PRIu64 " samples: fewer than one batch of %d for each of %d ranks; "
                                "lower the batch size or convert more data", c->data_dir, smp, c->batch_size, c->world);
            ok = 0;
        }
    }
    m3ae_manifest_free(&m);
    if (ok) {
        l->perm = malloc(sizeof(uint32_t) * (l->n_samples ? l->n_samples : 1));
        if (!l->perm) ok = 0, m3ae_error_set(err, "out of memory for the epoch permutation");
    }
    if (!ok) { /* m3ae_loader_close frees what was made so far: no threads, no batches yet */
        m3ae_loader_close(l);
        return NULL;
    }
    int S = c->image_size, N = (S / c->patch_size) * (S / c->patch_size);
    for (int s = 0; s < 2; s++) {
        alloc_batch(&l->slots[s].b, c->batch_size, S, c->max_text_len, N);
        l->slots[s].b.mim_keep = m3ae_mim_keep_count(N, c->mim_ratio);
    }
    l->threads = calloc((size_t)c->threads, sizeof(pthread_t));
    for (int t = 0; l->threads && t < c->threads; t++) {
        if (pthread_create(&l->threads[t], NULL, worker, l) != 0) break;
        l->n_threads++;
    }
    if (l->n_threads == 0) {
        m3ae_error_set(err, "cannot start loader threads");
        m3ae_loader_close(l);
        return NULL;
    }
    return l;
}

void m3ae_loader_close(m3ae_loader *l) {
    if (!l) return;
    if (l->inflight) wait_job(l, NULL);
    pthread_mutex_lock(&l->mu);
    l->quit = 1;
    pthread_cond_broadcast(&l->work_cv);
    pthread_mutex_unlock(&l->mu);
    for (int t = 0; t < l->n_threads; t++) pthread_join(l->threads[t], NULL);
    free(l->threads);
    for (int s = 0; s < 2; s++) free_batch(&l->slots[s].b);
    for (int s = 0; l->shards && s < l->n_shards; s++) m3ae_shard_close(l->shards[s]);
    free(l->shards);
    free(l->shard_rec_start);
    free(l->rec_sample_start);
    free(l->perm);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->work_cv);
    pthread_cond_destroy(&l->done_cv);
    free(l);
}

int m3ae_loader_next(m3ae_loader *l, const m3ae_loader_batch **batch, m3ae_error *err) {
    *batch = NULL;
    if (!l->inflight) submit(l, 0);
    int s = l->inflight_slot;
    if (wait_job(l, err)) {
        /* roll the state back to the failed batch, so that a retry or a report names it */
        l->epoch = l->slots[s].b.epoch;
        l->cursor = l->slots[s].b.position / (uint64_t)l->cfg.world;
        return -1;
    }
    m3ae_loader_batch *b = &l->slots[s].b;
    int64_t mlm = 0;
    for (size_t k = 0; k < (size_t)b->B * b->L; k++) mlm += b->mlm_labels[k] != -100;
    b->n_mlm_masked = mlm;
    b->n_mim_masked = (int64_t)b->B * (b->N - b->mim_keep);
    submit(l, s ^ 1); /* prefetch the next batch while the caller works on this one */
    *batch = b;
    return 0;
}

void m3ae_loader_get_state(const m3ae_loader *l, uint64_t *epoch, uint64_t *position) {
    /* the state of the next batch to be returned: the one in flight if any */
    if (l->inflight) {
        *epoch = l->slots[l->inflight_slot].b.epoch;
        *position = l->slots[l->inflight_slot].b.position;
    } else {
        *epoch = l->epoch;
        *position = l->cursor * (uint64_t)l->cfg.world;
    }
}

int m3ae_loader_set_state(m3ae_loader *l, uint64_t epoch, uint64_t position, m3ae_error *err) {
    if (l->inflight) wait_job(l, NULL); /* discard the prefetched batch */
    uint64_t j = position / (uint64_t)l->cfg.world;
    j -= j % (uint64_t)l->cfg.batch_size;
    if (j / (uint64_t)l->cfg.batch_size >= l->batches)
        return m3ae_error_set(err, "loader state (epoch %" PRIu64 ", position %" PRIu64 ") is past the end of an epoch "
                                   "(%" PRIu64 " batches of %d for each of %d ranks); the checkpoint belongs to another "
                                   "dataset or batch size", epoch, position, l->batches, l->cfg.batch_size,
                              l->cfg.world);
    l->epoch = epoch;
    l->cursor = j;
    return 0;
}

uint64_t m3ae_loader_num_samples(const m3ae_loader *l) { return l->n_samples; }
uint64_t m3ae_loader_samples_per_rank(const m3ae_loader *l) { return l->per_rank; }
uint64_t m3ae_loader_batches_per_epoch(const m3ae_loader *l) { return l->batches; }
