/* The generic pipeline with a small test sampler (sample index, epoch and a hash of the caption
 * per row): holding several leased batches at once gives the same batches as one at a time, for
 * any thread count; a held batch is never overwritten by the prefetch; the state after each lease
 * is the next batch's; set_state while batches are held restarts the order and leaves the held
 * batches intact; the sampler's finish sees each batch's start. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "io/crc32c.h"
#include "io/pipeline.h"
#include "io/prep.h"

#define SEED 77
#define NB 3

typedef struct {
    int B;
    int64_t sample[NB];
    uint32_t caption_crc[NB];
    uint64_t built_epoch[NB];
    uint64_t epoch, position; /* from finish */
    int finished;
} test_batch;

static int scratch_ok = 1;

static void *t_alloc(void *ctx, int B) {
    (void)ctx;
    test_batch *b = calloc(1, sizeof *b);
    T_CHECK(b && B == NB, "batch alloc of %d", B);
    if (b) b->B = B;
    return b;
}
static void t_free(void *ctx, void *b) { (void)ctx, free(b); }

static int t_build(void *ctx, m3ae_pipeline_worker *w, void *batch, int i, uint64_t epoch, uint64_t sample,
                   m3ae_error *err) {
    (void)ctx;
    test_batch *b = batch;
    uint64_t *scratch = m3ae_pipeline_worker_scratch(w);
    if (!scratch) scratch_ok = 0;
    else scratch[0] = sample; /* writable, per thread */
    m3ae_record_view v;
    uint32_t c, len;
    if (m3ae_pipeline_read(w, sample, &v, &c, err)) return -1;
    const char *text = m3ae_record_caption(&v, c, &len);
    b->sample[i] = (int64_t)sample;
    b->caption_crc[i] = m3ae_crc32c(0, text, len);
    b->built_epoch[i] = epoch;
    b->finished = 0;
    return 0;
}

static void t_finish(void *ctx, void *batch, uint64_t epoch, uint64_t position) {
    (void)ctx;
    test_batch *b = batch;
    b->epoch = epoch, b->position = position, b->finished = 1;
}

static const m3ae_sampler sampler = {.scratch_bytes = 64, .batch_alloc = t_alloc, .batch_free = t_free,
                                     .build = t_build, .finish = t_finish};

static m3ae_pipeline *open_p(const char *dir, int threads, int leases) {
    m3ae_pipeline_config c = {.data_dir = dir, .batch_size = NB, .seed = SEED, .rank = 1, .world = 2,
                              .threads = threads, .leases = leases};
    m3ae_error err;
    m3ae_pipeline *p = m3ae_pipeline_open(&c, &sampler, &err);
    T_CHECK(p != NULL, "pipeline open: %s", err.msg);
    return p;
}

static int same_batch(const test_batch *a, const test_batch *b) {
    return a->epoch == b->epoch && a->position == b->position && a->finished && b->finished &&
           !memcmp(a->sample, b->sample, sizeof a->sample) && !memcmp(a->caption_crc, b->caption_crc, sizeof a->caption_crc) &&
           !memcmp(a->built_epoch, b->built_epoch, sizeof a->built_epoch);
}

int main(void) {
    const char *jsonl = t_data("medpix2/dev.jsonl");
    char tmp[256], ds[320];
    snprintf(tmp, sizeof tmp, "/tmp/m3ae_test_pipeline_XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    snprintf(ds, sizeof ds, "%s/dev", tmp);
    m3ae_prep_options o = {.format = "jsonl", .input = jsonl, .out = ds, .shards = 2, .store_size = 32, .threads = 2,
                           .min_words = 3, .max_reject = 0.05};
    m3ae_prep_summary sum;
    m3ae_error err;
    T_CHECK(m3ae_prep_run(&o, &sum, &err) == 0, "prep: %s", err.msg);

    /* the reference: one lease, one thread; enough batches to cross an epoch */
    m3ae_pipeline *p = open_p(ds, 1, 1);
    if (!p) return t_done("test_pipeline");
    const uint64_t per_epoch = m3ae_pipeline_batches_per_epoch(p), n = per_epoch + per_epoch / 2 + 2;
    T_CHECK(per_epoch >= 4, "%" PRIu64 " batches an epoch", per_epoch);
    test_batch *ref = calloc(n, sizeof *ref);
    uint64_t (*state)[2] = calloc(n, sizeof *state);
    uint32_t *perm = malloc(sizeof(uint32_t) * m3ae_pipeline_num_samples(p));
    for (uint64_t k = 0; k < n; k++) {
        void *b;
        T_CHECK(m3ae_pipeline_lease(p, &b, &err) == 0, "lease %" PRIu64 ": %s", k, err.msg);
        ref[k] = *(test_batch *)b;
        m3ae_pipeline_get_state(p, &state[k][0], &state[k][1]);
        m3ae_pipeline_release(p, b);
        /* the order: rank 1 of 2 takes positions 1, 3, 5, ... of the epoch's permutation */
        uint64_t e = k / per_epoch, j = (k % per_epoch) * NB;
        m3ae_epoch_permutation(SEED, e, m3ae_pipeline_num_samples(p), perm);
        for (int i = 0; i < NB; i++)
            T_CHECK(ref[k].sample[i] == (int64_t)m3ae_rank_sample(perm, 1, 2, j + (uint64_t)i) && ref[k].built_epoch[i] == e,
                    "batch %" PRIu64 " row %d: sample %" PRId64 " of epoch %" PRIu64, k, i, ref[k].sample[i], ref[k].built_epoch[i]);
        T_CHECK(ref[k].epoch == e && ref[k].position == j * 2, "batch %" PRIu64 " starts at (%" PRIu64 ", %" PRIu64 ")", k,
                ref[k].epoch, ref[k].position);
    }
    m3ae_pipeline_close(p);
    T_CHECK(scratch_ok, "a worker had no scratch");

    /* three leases held at once, on 1 and 3 threads: the same batches, none overwritten while held */
    for (int threads = 1; threads <= 3; threads += 2) {
        p = open_p(ds, threads, 3);
        if (!p) break;
        for (uint64_t k = 0; k + 3 <= n; k += 3) {
            void *b[3];
            for (int h = 0; h < 3; h++) {
                T_CHECK(m3ae_pipeline_lease(p, &b[h], &err) == 0, "lease: %s", err.msg);
                uint64_t e, pos;
                m3ae_pipeline_get_state(p, &e, &pos);
                T_CHECK(e == state[k + h][0] && pos == state[k + h][1], "state after lease %" PRIu64, k + h);
            }
            T_CHECK(b[0] != b[1] && b[1] != b[2] && b[0] != b[2], "three distinct slots");
            for (int h = 0; h < 3; h++)
                T_CHECK(same_batch(b[h], &ref[k + h]), "%d threads: held batch %" PRIu64 " differs from the reference",
                        threads, k + h);
            for (int h = 0; h < 3; h++) m3ae_pipeline_release(p, b[h]);
        }
        m3ae_pipeline_close(p);
    }

    /* set_state while two batches are held: they stay intact; the order restarts at the state */
    p = open_p(ds, 2, 2);
    if (p) {
        void *a, *b, *c;
        T_CHECK(m3ae_pipeline_lease(p, &a, &err) == 0 && m3ae_pipeline_lease(p, &b, &err) == 0, "lease: %s", err.msg);
        T_CHECK(m3ae_pipeline_set_state(p, ref[3].epoch, ref[3].position + 1, &err) == 0, "set_state: %s", err.msg);
        T_CHECK(same_batch(a, &ref[0]) && same_batch(b, &ref[1]), "held batches changed by set_state");
        m3ae_pipeline_release(p, a);
        T_CHECK(m3ae_pipeline_lease(p, &c, &err) == 0 && same_batch(c, &ref[3]),
                "after set_state (rounded down to the batch boundary) the next batch is batch 3");
        T_CHECK(m3ae_pipeline_set_state(p, 0, 2 * NB * per_epoch, &err) == -1 && strstr(err.msg, "past the end"),
                "a state past the epoch is refused: %s", err.msg);
        m3ae_pipeline_release(p, b);
        m3ae_pipeline_release(p, c);
        m3ae_pipeline_close(p);
    }
    free(ref), free(state), free(perm);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return t_done("test_pipeline");
}
