/* The per-sample masks (io/masks.h): purity (same inputs -> same masks), the official MLM rule
 * (exactly max(1, round(L*0.15)) draws over all L positions, specials and pad dropped, 80/10/10),
 * literal specials inside a caption, "##" whole-word groups and their count rule, the token-level
 * draws unchanged where neither occurs, the Bernoulli mode, MIM noise and its stable argsort, the
 * keep count, ITM labels and wrong samples. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "harness.h"
#include "io/masks.h"

#define L 64
#define VOCAB 50265
#define MASK_ID 50264

static void make_ids(int n_real, int32_t *ids) {
    /* <s> t ... t </s> <pad> ...: n_real content tokens */
    ids[0] = 0;
    for (int p = 1; p <= n_real; p++) ids[p] = 1000 + p;
    ids[n_real + 1] = 2;
    for (int p = n_real + 2; p < L; p++) ids[p] = 1;
}

static void test_mlm_official(void) {
    int32_t ids[L], a[L], la[L], b[L], lb[L];
    make_ids(30, ids);
    long n_sel = 0, n_mask = 0, n_rand = 0, n_keep = 0, bad_draws = 0, bad_special = 0, impure = 0;
    long per_pos[L] = {0};
    const int n_samples = 40000;
    for (int s = 0; s < n_samples; s++) {
        int draws = -1;
        int k = m3ae_mlm_mask(7, 3, (uint64_t)s, ids, L, VOCAB, MASK_ID, 0.15f, M3AE_MLM_OFFICIAL, NULL, a, la, &draws);
        if (draws != 10) bad_draws++; /* max(1, round(64 * 0.15)) = 10 */
        int k2 = m3ae_mlm_mask(7, 3, (uint64_t)s, ids, L, VOCAB, MASK_ID, 0.15f, M3AE_MLM_OFFICIAL, NULL, b, lb, NULL);
        if (k != k2 || memcmp(a, b, sizeof a) || memcmp(la, lb, sizeof la)) impure++;
        int counted = 0;
        for (int p = 0; p < L; p++) {
            if (la[p] == M3AE_IGNORE_INDEX) {
                if (a[p] != ids[p]) bad_special++;
                continue;
            }
            counted++;
            per_pos[p]++;
            if (la[p] != ids[p] || ids[p] <= 2) bad_special++;
            if (a[p] == MASK_ID)
                n_mask++;
            else if (a[p] == ids[p])
                n_keep++;
            else
                n_rand++;
        }
        if (counted != k) bad_draws++;
        n_sel += k;
    }
    T_CHECK(bad_draws == 0, "%ld samples without exactly 10 draws", bad_draws);
    T_CHECK(bad_special == 0, "%ld specials/pad selected or unlabelled positions changed", bad_special);
    T_CHECK(impure == 0, "%ld samples differ between two calls", impure);
    /* 30 real tokens of 64: E[selected] = 10 * 30/64 = 4.6875 */
    double mean = (double)n_sel / n_samples;
    T_CLOSE(mean, 10.0 * 30 / 64, 0.03, 0, "mean selected %.4f", mean);
    double fm = (double)n_mask / n_sel, fr = (double)n_rand / n_sel, fk = (double)n_keep / n_sel;
    T_CLOSE(fm, 0.8, 0.01, 0, "<mask> fraction %.4f", fm);
    T_CLOSE(fr, 0.1, 0.01, 0, "random fraction %.4f", fr);
    T_CLOSE(fk, 0.1, 0.01, 0, "unchanged fraction %.4f", fk);
    /* uniform over the real positions: each selected with probability 10/64 */
    int nonuniform = 0;
    for (int p = 1; p <= 30; p++)
        if (per_pos[p] < n_samples * 0.140 || per_pos[p] > n_samples * 0.173) nonuniform++;
    T_CHECK(nonuniform == 0, "%d positions off 10/64 (pos 1: %ld)", nonuniform, per_pos[1]);
    /* other lengths: num = max(1, round(L * 0.15)) draws */
    int32_t ids8[8] = {0, 5, 6, 2, 1, 1, 1, 1}, o8[8], l8[8];
    int d8;
    m3ae_mlm_mask(1, 0, 0, ids8, 8, VOCAB, MASK_ID, 0.15f, M3AE_MLM_OFFICIAL, NULL, o8, l8, &d8);
    T_CHECK(d8 == 1, "L=8: %d draws (round(1.2) = 1)", d8);
    int32_t ids40[40], o40[40], l40[40];
    for (int p = 0; p < 40; p++) ids40[p] = 100 + p;
    m3ae_mlm_mask(1, 0, 0, ids40, 40, VOCAB, MASK_ID, 0.15f, M3AE_MLM_OFFICIAL, NULL, o40, l40, &d8);
    T_CHECK(d8 == 6, "L=40: %d draws (round(6.0))", d8);
    /* different epoch or sample -> different masks */
    m3ae_mlm_mask(7, 4, 0, ids, L, VOCAB, MASK_ID, 0.15f, M3AE_MLM_OFFICIAL, NULL, a, la, NULL);
    m3ae_mlm_mask(7, 3, 0, ids, L, VOCAB, MASK_ID, 0.15f, M3AE_MLM_OFFICIAL, NULL, b, lb, NULL);
    T_CHECK(memcmp(la, lb, sizeof la) != 0 || memcmp(a, b, sizeof a) != 0, "epoch does not change the masks");
}

/* Literal <unk>, <mask> and <pad> inside a caption (the tokenizer makes them from the strings):
 * never selected, never changed, in either mode; the positions around them still are. */
static void test_mlm_literal_specials(void) {
    int32_t ids[L], a[L], la[L];
    make_ids(30, ids);
    const int lit[] = {4, 9, 17, 23, 29}; /* <unk>, <mask>, <pad>, <unk>, <mask> */
    const int32_t lit_id[] = {M3AE_TOKEN_UNK, MASK_ID, M3AE_TOKEN_PAD, M3AE_TOKEN_UNK, MASK_ID};
    for (int i = 0; i < 5; i++) ids[lit[i]] = lit_id[i];
    long hit = 0, changed = 0, neighbours = 0, bad_draws = 0;
    for (int mode = 0; mode < 2; mode++)
        for (int s = 0; s < 20000; s++) {
            int d = 0;
            int k = m3ae_mlm_mask(3, 1, (uint64_t)s, ids, L, VOCAB, MASK_ID, 0.15f, mode, NULL, a, la, &d);
            if (mode == M3AE_MLM_OFFICIAL && d != 10) bad_draws++;
            if (mode == M3AE_MLM_BERNOULLI && d != 25) bad_draws++; /* 30 content tokens, 5 of them specials */
            int counted = 0;
            for (int p = 0; p < L; p++) counted += la[p] != M3AE_IGNORE_INDEX;
            if (counted != k) bad_draws++;
            for (int i = 0; i < 5; i++) {
                hit += la[lit[i]] != M3AE_IGNORE_INDEX;
                changed += a[lit[i]] != lit_id[i];
                neighbours += la[lit[i] + 1] != M3AE_IGNORE_INDEX;
            }
        }
    T_CHECK(hit == 0 && changed == 0, "literal specials inside a caption: %ld selected, %ld changed", hit, changed);
    T_CHECK(bad_draws == 0, "%ld samples with a wrong draw count", bad_draws);
    /* the content token after each literal special is selected about 10/64 (official) + 15 % of
     * the time: the case is not vacuous */
    T_CHECK(neighbours > 2 * 5 * 20000 * 0.12, "neighbours of the specials selected only %ld times", neighbours);
}

/* "##" continuations (flags indexed by id): a head and its continuations are selected together
 * or not at all, a group that would overflow num_to_predict is skipped (L = 8: num = 1, so a
 * two-token word is never selected), and the count of taken positions is exactly num. */
static void test_mlm_whole_words(void) {
    uint8_t *cont = calloc(VOCAB, 1);
    if (!cont) return;
    const int32_t C1 = 7777, C2 = 8888; /* continuation ids */
    cont[C1] = cont[C2] = 1;
    int32_t ids[L], a[L], la[L];
    make_ids(30, ids);
    ids[5] = C1, ids[6] = C2;  /* word: positions 4, 5, 6 */
    ids[20] = C1;              /* word: positions 19, 20 */
    ids[1] = C2;               /* after <s>: group {0, 1}, only 1 can be labelled */
    long split = 0, word3 = 0, word2 = 0, first = 0, bad_draws = 0, bad_total = 0;
    for (int s = 0; s < 40000; s++) {
        int d = 0;
        int k = m3ae_mlm_mask(21, 0, (uint64_t)s, ids, L, VOCAB, MASK_ID, 0.15f, M3AE_MLM_OFFICIAL, cont, a, la, &d);
        if (d != 10) bad_draws++;
        int counted = 0;
        for (int p = 0; p < L; p++) counted += la[p] != M3AE_IGNORE_INDEX;
        if (counted != k || k > 10) bad_total++;
        int s4 = la[4] != M3AE_IGNORE_INDEX, s5 = la[5] != M3AE_IGNORE_INDEX, s6 = la[6] != M3AE_IGNORE_INDEX;
        int s19 = la[19] != M3AE_IGNORE_INDEX, s20 = la[20] != M3AE_IGNORE_INDEX;
        if (s4 != s5 || s5 != s6 || s19 != s20) split++;
        if (la[0] != M3AE_IGNORE_INDEX) split++; /* <s> itself is dropped */
        word3 += s4, word2 += s19, first += la[1] != M3AE_IGNORE_INDEX;
    }
    T_CHECK(split == 0, "%ld samples split a whole word (or labelled <s>)", split);
    T_CHECK(bad_draws == 0 && bad_total == 0, "%ld samples without exactly 10 taken positions, %ld with a bad count",
            bad_draws, bad_total);
    /* 61 groups: each is visited among the first ~10 and taken most of those times */
    T_CHECK(word3 > 40000 * 0.08 && word2 > 40000 * 0.08 && first > 40000 * 0.08,
            "whole words rarely selected: 3-token %ld, 2-token %ld, after <s> %ld of 40000", word3, word2, first);
    /* L = 8, num = round(1.2) = 1: the two-token word (2, 3) never fits */
    int32_t ids8[8] = {0, 50, 60, C1, 70, 2, 1, 1}, o8[8], l8[8];
    long w8 = 0, d8_bad = 0, single = 0;
    for (int s = 0; s < 5000; s++) {
        int d8 = 0;
        m3ae_mlm_mask(5, 0, (uint64_t)s, ids8, 8, VOCAB, MASK_ID, 0.15f, M3AE_MLM_OFFICIAL, cont, o8, l8, &d8);
        if (d8 != 1) d8_bad++;
        w8 += (l8[2] != M3AE_IGNORE_INDEX) + (l8[3] != M3AE_IGNORE_INDEX);
        single += l8[1] != M3AE_IGNORE_INDEX;
    }
    T_CHECK(w8 == 0, "a word that overflows num_to_predict was selected %ld times", w8);
    T_CHECK(d8_bad == 0 && single > 5000 / 7 * 0.8, "L=8: %ld samples without 1 draw; position 1 taken %ld times",
            d8_bad, single);
    free(cont);
}

/* Today's token-level rule, written out: num steps of a partial Fisher-Yates over 0..L-1 (word j),
 * specials dropped, 80/10/10 by words 2^20 + p and 2^21 + p. */
static int mlm_token_level(uint64_t seed, uint64_t epoch, uint64_t sample, const int32_t *ids, int n, int32_t *out,
                           int32_t *lab) {
    m3ae_rng r = m3ae_rng_make(seed, M3AE_RNG_MLM, epoch, sample);
    int num = (int)nearbyint(n * (double)0.15f), pos[L], k = 0;
    num = num < 1 ? 1 : num;
    for (int p = 0; p < n; p++) pos[p] = p, out[p] = ids[p], lab[p] = M3AE_IGNORE_INDEX;
    for (int j = 0; j < num; j++) {
        int q = j + (int)m3ae_rng_below(&r, (uint64_t)j, (uint32_t)(n - j)), t = pos[j];
        pos[j] = pos[q], pos[q] = t;
    }
    for (int j = 0; j < num; j++) {
        int p = pos[j];
        if (ids[p] <= 2) continue;
        lab[p] = ids[p], k++;
        float u = m3ae_rng_uniform(&r, (1ull << 20) + (uint64_t)p);
        if (u < 0.8f) out[p] = MASK_ID;
        else if (u < 0.9f) out[p] = (int32_t)m3ae_rng_below(&r, (2ull << 20) + (uint64_t)p, VOCAB);
    }
    return k;
}

/* Captions without "##" tokens and without literal specials: exactly the token-level draws, with
 * and without continuation flags, at several lengths. */
static void test_mlm_unchanged_draws(void) {
    uint8_t *cont = calloc(VOCAB, 1);
    if (!cont) return;
    cont[50263] = 1; /* present in the vocabulary, absent from these captions (ids 4..50003) */
    int32_t ids[L], a[L], la[L], b[L], lb[L];
    long diff = 0;
    const int lens[] = {64, 40, 13};
    for (int li = 0; li < 3; li++)
        for (int s = 0; s < 5000; s++) {
            int n = lens[li];
            for (int p = 0; p < L; p++) ids[p] = M3AE_TOKEN_PAD;
            int real = 1 + s % (n - 2);
            ids[0] = M3AE_TOKEN_BOS;
            for (int p = 1; p <= real; p++) ids[p] = 4 + (int32_t)((p * 2654435761u + (unsigned)s) % 50000u);
            ids[real + 1] = M3AE_TOKEN_EOS;
            int kr = mlm_token_level(17, 2, (uint64_t)s, ids, n, b, lb);
            for (int f = 0; f < 2; f++) {
                int k = m3ae_mlm_mask(17, 2, (uint64_t)s, ids, n, VOCAB, MASK_ID, 0.15f, M3AE_MLM_OFFICIAL,
                                      f ? cont : NULL, a, la, NULL);
                diff += k != kr || memcmp(a, b, sizeof(int32_t) * n) || memcmp(la, lb, sizeof(int32_t) * n);
            }
        }
    T_CHECK(diff == 0, "%ld samples differ from the token-level draws", diff);
    free(cont);
}

static void test_mlm_bernoulli(void) {
    int32_t ids[L], a[L], la[L];
    make_ids(40, ids);
    long sel = 0, cand = 0;
    for (int s = 0; s < 20000; s++) {
        int d;
        sel += m3ae_mlm_mask(9, 0, (uint64_t)s, ids, L, VOCAB, MASK_ID, 0.15f, M3AE_MLM_BERNOULLI, NULL, a, la, &d);
        cand += d;
        for (int p = 0; p < L; p++)
            if (la[p] != M3AE_IGNORE_INDEX && ids[p] <= 2) cand = -1000000000;
    }
    T_CHECK(cand == 40L * 20000, "bernoulli candidates %ld (specials selected?)", cand);
    T_CLOSE((double)sel / (40.0 * 20000), 0.15, 0.003, 0, "bernoulli rate %.4f", (double)sel / (40.0 * 20000));
}

static void test_mim(void) {
    const int N = 324;
    float noise[324], noise2[324];
    int32_t ids[324], ids2[324];
    T_CHECK(m3ae_mim_keep_count(324, 0.75) == 81, "keep %d", m3ae_mim_keep_count(324, 0.75));
    T_CHECK(m3ae_mim_keep_count(196, 0.75) == 49, "keep 196");
    /* the ratios where float arithmetic gives one less (issue 8 section 4) */
    T_CHECK(m3ae_mim_keep_count(324, 2.0 / 3.0) == 108, "keep %d of 324 at 2/3", m3ae_mim_keep_count(324, 2.0 / 3.0));
    T_CHECK(m3ae_mim_keep_count(25, 0.6) == 10, "keep %d of 25 at 0.6", m3ae_mim_keep_count(25, 0.6));
    int bad = 0;
    double sum = 0;
    for (int s = 0; s < 200; s++) {
        m3ae_mim_noise(5, 1, (uint64_t)s, N, noise, ids);
        m3ae_mim_noise(5, 1, (uint64_t)s, N, noise2, ids2);
        if (memcmp(noise, noise2, sizeof noise) || memcmp(ids, ids2, sizeof ids)) bad++;
        int seen[324] = {0};
        for (int k = 0; k < N; k++) {
            if (ids[k] < 0 || ids[k] >= N || seen[ids[k]]++) bad++;
            if (k && (noise[ids[k]] < noise[ids[k - 1]] || (noise[ids[k]] == noise[ids[k - 1]] && ids[k] < ids[k - 1])))
                bad++;
            if (noise[k] < 0 || noise[k] >= 1) bad++;
            sum += noise[k];
        }
    }
    T_CHECK(bad == 0, "%d MIM noise/argsort errors", bad);
    T_CLOSE(sum / (200.0 * N), 0.5, 0.01, 0, "noise mean");
    m3ae_mim_noise(5, 2, 0, N, noise2, ids2);
    m3ae_mim_noise(5, 1, 0, N, noise, ids);
    T_CHECK(memcmp(noise, noise2, sizeof noise) != 0, "epoch does not change the noise");
}

static void test_itm(void) {
    long ones = 0, bad = 0;
    const uint64_t n = 1000;
    long hits[1000] = {0};
    for (uint64_t s = 0; s < 20000; s++) {
        int32_t lab, lab2;
        uint64_t w, w2;
        uint64_t smp = s % n;
        m3ae_itm_draw(11, s / n, smp, n, &lab, &w);
        m3ae_itm_draw(11, s / n, smp, n, &lab2, &w2);
        if (lab != lab2 || w != w2 || w == smp || w >= n || (lab != 0 && lab != 1)) bad++;
        ones += lab;
        hits[w]++;
    }
    T_CHECK(bad == 0, "%ld ITM draws bad (impure, wrong == sample, out of range)", bad);
    T_CLOSE(ones / 20000.0, 0.5, 0.015, 0, "ITM label-1 rate %.4f", ones / 20000.0);
    long mx = 0;
    for (int i = 0; i < 1000; i++) mx = hits[i] > mx ? hits[i] : mx;
    T_CHECK(mx < 60, "wrong samples not uniform (max hits %ld of mean 20)", mx);
}

int main(void) {
    test_mlm_official();
    test_mlm_literal_specials();
    test_mlm_whole_words();
    test_mlm_unchanged_draws();
    test_mlm_bernoulli();
    test_mim();
    test_itm();
    return t_done("test_masks");
}
