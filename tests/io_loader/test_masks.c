/* The per-sample masks (io/masks.h): purity (same inputs -> same masks), the official MLM rule
 * (exactly max(1, round(L*0.15)) draws over all L positions, specials and pad dropped, 80/10/10),
 * the Bernoulli mode, MIM noise and its stable argsort, ITM labels and wrong samples. */
#include <stdint.h>
#include <string.h>

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
        int k = m3ae_mlm_mask(7, 3, (uint64_t)s, ids, L, VOCAB, MASK_ID, 0.15f, M3AE_MLM_OFFICIAL, a, la, &draws);
        if (draws != 10) bad_draws++; /* max(1, round(64 * 0.15)) = 10 */
        int k2 = m3ae_mlm_mask(7, 3, (uint64_t)s, ids, L, VOCAB, MASK_ID, 0.15f, M3AE_MLM_OFFICIAL, b, lb, NULL);
        if (k != k2 || memcmp(a, b, sizeof a) || memcmp(la, lb, sizeof la)) impure++;
        int counted = 0;
        for (int p = 0; p < L; p++) {
            if (la[p] == M3AE_MLM_IGNORE) {
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
    m3ae_mlm_mask(1, 0, 0, ids8, 8, VOCAB, MASK_ID, 0.15f, M3AE_MLM_OFFICIAL, o8, l8, &d8);
    T_CHECK(d8 == 1, "L=8: %d draws (round(1.2) = 1)", d8);
    int32_t ids40[40], o40[40], l40[40];
    for (int p = 0; p < 40; p++) ids40[p] = 100 + p;
    m3ae_mlm_mask(1, 0, 0, ids40, 40, VOCAB, MASK_ID, 0.15f, M3AE_MLM_OFFICIAL, o40, l40, &d8);
    T_CHECK(d8 == 6, "L=40: %d draws (round(6.0))", d8);
    /* different epoch or sample -> different masks */
    m3ae_mlm_mask(7, 4, 0, ids, L, VOCAB, MASK_ID, 0.15f, M3AE_MLM_OFFICIAL, a, la, NULL);
    m3ae_mlm_mask(7, 3, 0, ids, L, VOCAB, MASK_ID, 0.15f, M3AE_MLM_OFFICIAL, b, lb, NULL);
    T_CHECK(memcmp(la, lb, sizeof la) != 0 || memcmp(a, b, sizeof a) != 0, "epoch does not change the masks");
}

static void test_mlm_bernoulli(void) {
    int32_t ids[L], a[L], la[L];
    make_ids(40, ids);
    long sel = 0, cand = 0;
    for (int s = 0; s < 20000; s++) {
        int d;
        sel += m3ae_mlm_mask(9, 0, (uint64_t)s, ids, L, VOCAB, MASK_ID, 0.15f, M3AE_MLM_BERNOULLI, a, la, &d);
        cand += d;
        for (int p = 0; p < L; p++)
            if (la[p] != M3AE_MLM_IGNORE && ids[p] <= 2) cand = -1000000000;
    }
    T_CHECK(cand == 40L * 20000, "bernoulli candidates %ld (specials selected?)", cand);
    T_CLOSE((double)sel / (40.0 * 20000), 0.15, 0.003, 0, "bernoulli rate %.4f", (double)sel / (40.0 * 20000));
}

static void test_mim(void) {
    const int N = 324;
    float noise[324], noise2[324];
    int32_t ids[324], ids2[324];
    T_CHECK(m3ae_mim_keep(324, 0.75f) == 81, "keep %d", m3ae_mim_keep(324, 0.75f));
    T_CHECK(m3ae_mim_keep(196, 0.75f) == 49, "keep 196");
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
    test_mlm_bernoulli();
    test_mim();
    test_itm();
    return t_done("test_masks");
}
