/* The loader on a real converted dataset (MedPix-2.0 dev split, converted here with m3ae_prep_run):
 * batch contents, masks equal to the per-sample functions, rank striding (1, 2, 4 ranks partition
 * the epoch and give every sample the same image, tokens and masks), epoch rollover, restore of
 * (epoch, position), and a corrupted record stopping the loader with shard and key named. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "io/crc32c.h"
#include "io/image.h"
#include "io/image_transform.h"
#include "io/loader.h"
#include "io/masks.h"
#include "io/prep.h"
#include "io/shard.h"
#include "io/tokenizer.h"

#define SEED 1234
#define NB 4
#define SZ 224

static char tmp[256], ds[320];
static m3ae_tokenizer *tok;

static m3ae_loader *open_loader_crop(const char *dir, int rank, int world, int threads, int crop) {
    m3ae_loader_config c = {.random_crop = crop, .data_dir = dir, .tokenizer = tok, .batch_size = NB, .image_size = SZ, .patch_size = 16,
                            .max_text_len = 40, .mim_ratio = 0.75f, .mlm_prob = 0.15f, .mlm_mode = M3AE_MLM_OFFICIAL,
                            .seed = SEED, .rank = rank, .world = world, .threads = threads};
    m3ae_error err;
    m3ae_loader *l = m3ae_loader_open(&c, &err);
    T_CHECK(l != NULL, "loader open: %s", err.msg);
    return l;
}

/* The MIM keep count of a batch at the ratios where float and double arithmetic disagree (issue 8
 * section 4): int(324 * (1 - 2/3)) = 108 and int(25 * (1 - 0.6)) = 10 in Python (float: 107, 9). */
static void test_keep_count(void) {
    static const struct {
        int size;
        double ratio;
        int patches, keep;
    } cases[] = {{288, 2.0 / 3.0, 324, 108}, {80, 0.6, 25, 10}, {224, 0.75, 196, 49}};
    for (int k = 0; k < 3; k++) {
        m3ae_loader_config c = {.data_dir = ds, .tokenizer = tok, .batch_size = NB, .image_size = cases[k].size,
                                .patch_size = 16, .max_text_len = 40, .mim_ratio = cases[k].ratio, .mlm_prob = 0.15f,
                                .mlm_mode = M3AE_MLM_OFFICIAL, .seed = SEED, .rank = 0, .world = 1, .threads = 1};
        m3ae_error err;
        m3ae_loader *l = m3ae_loader_open(&c, &err);
        T_CHECK(l != NULL, "loader open at %d px: %s", cases[k].size, l ? "" : err.msg);
        if (!l) continue;
        const m3ae_loader_batch *b;
        int ok = m3ae_loader_next(l, &b, &err) == 0;
        T_CHECK(ok, "next at %d px: %s", cases[k].size, ok ? "" : err.msg);
        if (ok) {
            T_CHECK(b->N == cases[k].patches && b->mim_keep == cases[k].keep &&
                        b->mim_keep == m3ae_mim_keep_count(cases[k].patches, cases[k].ratio),
                    "%d px, mim_ratio %.17g: %d patches, keep %d (expected %d of %d)", cases[k].size, cases[k].ratio,
                    b->N, b->mim_keep, cases[k].keep, cases[k].patches);
            T_CHECK(b->n_mim_masked == (int64_t)NB * (cases[k].patches - cases[k].keep),
                    "%d px: %" PRId64 " masked patches in the batch, expected %d", cases[k].size, b->n_mim_masked,
                    NB * (cases[k].patches - cases[k].keep));
        }
        m3ae_loader_close(l);
    }
}

static m3ae_loader *open_loader(const char *dir, int rank, int world, int threads) {
    return open_loader_crop(dir, rank, world, threads, 0);
}

/* A hash of everything a batch row holds about its sample. */
static uint32_t row_hash(const m3ae_loader_batch *b, int i) {
    size_t img = (size_t)3 * b->S * b->S;
    uint32_t h = m3ae_crc32c(0, b->images + img * i, img * sizeof(float));
    h = m3ae_crc32c(h, b->itm_images + img * i, img * sizeof(float));
    h = m3ae_crc32c(h, b->text_ids + (size_t)b->L * i, sizeof(int32_t) * b->L);
    h = m3ae_crc32c(h, b->text_masks + (size_t)b->L * i, sizeof(int32_t) * b->L);
    h = m3ae_crc32c(h, b->mlm_ids + (size_t)b->L * i, sizeof(int32_t) * b->L);
    h = m3ae_crc32c(h, b->mlm_labels + (size_t)b->L * i, sizeof(int32_t) * b->L);
    h = m3ae_crc32c(h, b->mim_noise + (size_t)b->N * i, sizeof(float) * b->N);
    h = m3ae_crc32c(h, b->mim_ids_shuffle + (size_t)b->N * i, sizeof(int32_t) * b->N);
    h = m3ae_crc32c(h, &b->itm_labels[i], sizeof(int32_t));
    h = m3ae_crc32c(h, &b->sample_ids[i], sizeof(int64_t));
    return h;
}

/* Checks row i against the per-sample mask functions; returns the number of mismatches. */
static int check_masks(const m3ae_loader_batch *b, int i, uint64_t n_samples) {
    int bad = 0, L = b->L, N = b->N;
    uint64_t g = (uint64_t)b->sample_ids[i];
    int32_t mi[64], ml[64], ids[64];
    m3ae_mlm_mask(SEED, b->epoch, g, b->text_ids + (size_t)L * i, L, 50265, 50264, 0.15f, M3AE_MLM_OFFICIAL,
                  m3ae_tokenizer_continuation_flags(tok), mi, ml, NULL);
    bad += memcmp(mi, b->mlm_ids + (size_t)L * i, sizeof(int32_t) * L) != 0;
    bad += memcmp(ml, b->mlm_labels + (size_t)L * i, sizeof(int32_t) * L) != 0;
    float noise[196];
    int32_t sh[196];
    m3ae_mim_noise(SEED, b->epoch, g, N, noise, sh);
    bad += memcmp(noise, b->mim_noise + (size_t)N * i, sizeof(float) * N) != 0;
    bad += memcmp(sh, b->mim_ids_shuffle + (size_t)N * i, sizeof(int32_t) * N) != 0;
    int32_t lab;
    uint64_t w;
    m3ae_itm_draw(SEED, b->epoch, g, n_samples, &lab, &w);
    bad += lab != b->itm_labels[i] || (int64_t)w != b->itm_wrong_ids[i];
    size_t img = (size_t)3 * SZ * SZ;
    if (lab == 1) bad += memcmp(b->images + img * i, b->itm_images + img * i, img * sizeof(float)) != 0;
    /* text: <s> first, mask = real tokens, pad after */
    int n = 0;
    for (int p = 0; p < L; p++) n += b->text_masks[(size_t)L * i + p];
    memcpy(ids, b->text_ids + (size_t)L * i, sizeof(int32_t) * L);
    bad += ids[0] != 0 || n < 3 || ids[n - 1] != 2 || (n < L && ids[n] != 1);
    return bad;
}

static void test_basic_and_ranks(uint32_t *by_sample, uint64_t *n_out) {
    m3ae_loader *l = open_loader(ds, 0, 1, 2);
    if (!l) return;
    uint64_t n = m3ae_loader_num_samples(l);
    *n_out = n;
    T_CHECK(n == 194, "samples %" PRIu64 " (dev: 196 lines, 2 captions too short)", n);
    T_CHECK(m3ae_loader_batches_per_epoch(l) == n / NB, "batches per epoch");
    uint32_t *perm = malloc(sizeof(uint32_t) * n);
    m3ae_epoch_permutation(SEED, 0, n, perm);
    const m3ae_loader_batch *b;
    m3ae_error err;
    int bad = 0, wrong_order = 0;
    float lo = 1e9f, hi = -1e9f;
    for (uint64_t k = 0; k < m3ae_loader_batches_per_epoch(l); k++) {
        if (m3ae_loader_next(l, &b, &err)) {
            T_CHECK(0, "next: %s", err.msg);
            break;
        }
        for (int i = 0; i < NB; i++) {
            if ((uint64_t)b->sample_ids[i] != perm[k * NB + i]) wrong_order++;
            bad += check_masks(b, i, n);
            by_sample[b->sample_ids[i]] = row_hash(b, i);
        }
        for (size_t q = 0; q < (size_t)NB * 3 * SZ * SZ; q++) {
            lo = b->images[q] < lo ? b->images[q] : lo;
            hi = b->images[q] > hi ? b->images[q] : hi;
        }
        T_CHECK(b->n_mim_masked == (int64_t)NB * (196 - 49) && b->mim_keep == 49, "MIM counts");
    }
    T_CHECK(wrong_order == 0, "%d samples not in permutation order", wrong_order);
    T_CHECK(bad == 0, "%d rows differ from the per-sample mask functions", bad);
    T_CHECK(lo >= -1.80f && lo < -1.0f && hi <= 2.15f && hi > 1.5f, "CLIP-normalised range %g..%g", lo, hi);
    /* epoch rollover */
    uint64_t e, p;
    m3ae_loader_get_state(l, &e, &p);
    T_CHECK(e == 1 && p == 0, "state after an epoch: (%" PRIu64 ", %" PRIu64 ")", e, p);
    T_CHECK(m3ae_loader_next(l, &b, &err) == 0 && b->epoch == 1 && b->position == 0, "first batch of epoch 1");
    m3ae_loader_close(l);

    /* 2 and 4 ranks: partition of the epoch, same rows per sample */
    for (int W = 2; W <= 4; W += 2) {
        char *seen = calloc(n, 1);
        int dup = 0, diff = 0, off = 0;
        uint64_t total = 0;
        for (int r = 0; r < W; r++) {
            m3ae_loader *lr = open_loader(ds, r, W, 1 + r % 2);
            if (!lr) break;
            uint64_t nb = m3ae_loader_batches_per_epoch(lr);
            T_CHECK(m3ae_loader_samples_per_rank(lr) == n / W && nb == n / W / NB, "rank sizes W=%d", W);
            for (uint64_t k = 0; k < nb; k++) {
                if (m3ae_loader_next(lr, &b, &err)) {
                    T_CHECK(0, "next W=%d r=%d: %s", W, r, err.msg);
                    break;
                }
                for (int i = 0; i < NB; i++) {
                    uint64_t g = (uint64_t)b->sample_ids[i];
                    if (g != perm[(uint64_t)r + (uint64_t)W * (k * NB + i)]) off++;
                    if (seen[g]++) dup++;
                    if (row_hash(b, i) != by_sample[g]) diff++;
                    total++;
                }
            }
            m3ae_loader_close(lr);
        }
        T_CHECK(dup == 0 && off == 0, "W=%d: %d duplicates, %d off the striding", W, dup, off);
        T_CHECK(total == (uint64_t)W * (n / W / NB) * NB, "W=%d: %" PRIu64 " samples", W, total);
        T_CHECK(diff == 0, "W=%d: %d samples got other images/tokens/masks than with 1 rank", W, diff);
        free(seen);
    }
    free(perm);
}

static void test_restore(void) {
    m3ae_loader *a = open_loader(ds, 1, 2, 2), *c = open_loader(ds, 1, 2, 1);
    if (!a || !c) return;
    const m3ae_loader_batch *b;
    m3ae_error err;
    uint32_t want[3][NB];
    uint64_t se = 0, sp = 0;
    for (int k = 0; k < 3; k++) {
        T_CHECK(m3ae_loader_next(a, &b, &err) == 0, "next: %s", err.msg);
        for (int i = 0; i < NB; i++) want[k][i] = row_hash(b, i);
        if (k == 0) m3ae_loader_get_state(a, &se, &sp);
    }
    T_CHECK(se == 0 && sp == (uint64_t)NB * 2, "state after one batch on 2 ranks: (%" PRIu64 ", %" PRIu64 ")", se, sp);
    /* a fresh loader that already prefetched, then restored */
    T_CHECK(m3ae_loader_next(c, &b, &err) == 0, "next");
    T_CHECK(m3ae_loader_set_state(c, se, sp, &err) == 0, "set_state: %s", err.msg);
    int diff = 0;
    for (int k = 1; k < 3; k++) {
        T_CHECK(m3ae_loader_next(c, &b, &err) == 0, "next after restore: %s", err.msg);
        for (int i = 0; i < NB; i++) diff += row_hash(b, i) != want[k][i];
    }
    T_CHECK(diff == 0, "%d rows differ after restoring (epoch, position)", diff);
    /* restore into epoch 3 */
    T_CHECK(m3ae_loader_set_state(c, 3, 0, &err) == 0 && m3ae_loader_next(c, &b, &err) == 0 && b->epoch == 3,
            "epoch 3");
    uint32_t *perm = malloc(sizeof(uint32_t) * 194);
    m3ae_epoch_permutation(SEED, 3, 194, perm);
    T_CHECK((uint64_t)b->sample_ids[0] == perm[1] && (uint64_t)b->sample_ids[1] == perm[3], "epoch 3 order");
    free(perm);
    T_CHECK(m3ae_loader_set_state(c, 0, 1000000, &err) != 0, "a position past the epoch accepted");
    m3ae_loader_close(a);
    m3ae_loader_close(c);
}

/* clip_resizedcrop: deterministic per (seed, epoch, sample), different from the center crop */
static void test_random_crop(void) {
    m3ae_loader *a = open_loader_crop(ds, 0, 2, 2, 1), *b2 = open_loader_crop(ds, 0, 2, 1, 1), *c = open_loader(ds, 0, 2, 1);
    if (!a || !b2 || !c) return;
    const m3ae_loader_batch *x, *y, *z;
    m3ae_error err;
    int same = 0, differs = 0;
    for (int k = 0; k < 2; k++) {
        T_CHECK(m3ae_loader_next(a, &x, &err) == 0 && m3ae_loader_next(b2, &y, &err) == 0 &&
                    m3ae_loader_next(c, &z, &err) == 0, "next: %s", err.msg);
        for (int i = 0; i < NB; i++) {
            same += row_hash(x, i) == row_hash(y, i);
            size_t img = (size_t)3 * SZ * SZ;
            differs += memcmp(x->images + img * i, z->images + img * i, img * sizeof(float)) != 0;
        }
    }
    T_CHECK(same == 2 * NB, "random crop not deterministic (%d of %d rows equal)", same, 2 * NB);
    T_CHECK(differs >= 2 * NB - 1, "random crop equals the center crop in %d rows", 2 * NB - differs);
    m3ae_loader_close(a);
    m3ae_loader_close(b2);
    m3ae_loader_close(c);
}

static long count_hits(const char *data, long size, const char *cap, size_t cl, long *first) {
    long hits = 0;
    for (long q = 0; cl && q + (long)cl <= size; q++)
        if (data[q] == cap[0] && !memcmp(data + q, cap, cl)) {
            if (!hits) *first = q;
            hits++;
        }
    return hits;
}

static void test_corrupt(void) {
    /* copy the dataset, flip a byte inside a caption (one that occurs once) of shard-00000 */
    char cmd[1200], path[700];
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s/bad'", ds, tmp);
    T_CHECK(system(cmd) == 0, "cp");
    snprintf(path, sizeof path, "%s/bad/shard-00000/data.mdb", tmp);
    FILE *f = fopen(path, "r+b");
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    char *data = malloc((size_t)size);
    fseek(f, 0, SEEK_SET);
    T_CHECK(fread(data, 1, (size_t)size, f) == (size_t)size, "read");
    snprintf(path, sizeof path, "%s/bad/shard-00000", tmp);
    m3ae_error err;
    m3ae_shard *s = m3ae_shard_open(path, "shard-00000", &err);
    T_CHECK(s != NULL, "open: %s", err.msg);
    m3ae_shard_reader *r = s ? m3ae_shard_reader_begin(s, &err) : NULL;
    long at = -1;
    uint64_t key = 0;
    for (uint64_t k = 5; r && k < m3ae_shard_info(s)->records && at < 0; k++) {
        m3ae_record_view v;
        if (m3ae_shard_read(r, k, 1, &v, &err)) break;
        uint32_t cl;
        const char *c = m3ae_record_caption(&v, 0, &cl);
        long first = -1;
        if (count_hits(data, size, c, cl, &first) == 1) at = first + 1, key = k;
    }
    m3ae_shard_reader_end(r);
    m3ae_shard_close(s);
    T_CHECK(at >= 0, "no record with a unique caption in shard-00000");
    if (at >= 0) {
        fseek(f, at, SEEK_SET);
        fputc(data[at] ^ 0x04, f);
    }
    fclose(f);
    free(data);
    snprintf(path, sizeof path, "%s/bad", tmp);
    m3ae_loader *l = open_loader(path, 0, 1, 2);
    if (!l) return;
    const m3ae_loader_batch *b;
    int failed = 0;
    for (uint64_t k = 0; k < m3ae_loader_batches_per_epoch(l) + 1 && !failed; k++) failed = m3ae_loader_next(l, &b, &err) != 0;
    char want[32];
    snprintf(want, sizeof want, "key %" PRIu64 ":", key);
    T_CHECK(failed && strstr(err.msg, "shard-00000") && strstr(err.msg, want) && strstr(err.msg, "CRC32C"),
            "corrupt record (want '%s'): %s", want, failed ? err.msg : "not detected");
    m3ae_loader_close(l);
}

int main(void) {
    const char *jsonl = t_data("medpix2/dev.jsonl");
    const char *vocab = t_data("vocab/roberta-base");
    m3ae_error err;
    tok = m3ae_tokenizer_load(vocab, &err);
    T_CHECK(tok != NULL, "tokenizer: %s", err.msg);
    if (!tok) return t_done("test_loader");
    snprintf(tmp, sizeof tmp, "/tmp/m3ae_test_loader_XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    snprintf(ds, sizeof ds, "%s/dev", tmp);
    m3ae_prep_options o = {.format = "jsonl", .input = jsonl, .out = ds, .shards = 3, .store_size = SZ, .threads = 2,
                           .min_words = 3, .max_reject = 0.05};
    m3ae_prep_summary sum;
    T_CHECK(m3ae_prep_run(&o, &sum, &err) == 0, "prep: %s", err.msg);
    uint32_t *by_sample = calloc(4096, sizeof(uint32_t));
    uint64_t n = 0;
    test_basic_and_ranks(by_sample, &n);
    test_restore();
    test_random_crop();
    test_keep_count();
    test_corrupt();
    free(by_sample);
    m3ae_tokenizer_free(tok);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return t_done("test_loader");
}
