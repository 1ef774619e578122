#include "io/masks.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "common/sort.h"

#define MLM_WORD_DECIDE (1ull << 20)
#define MLM_WORD_RANDOM (2ull << 20)
#define MLM_WORD_BERNOULLI (3ull << 20)

void m3ae_mim_noise(uint64_t seed, uint64_t epoch, uint64_t sample, int n_patches, float *noise,
                    int32_t *ids_shuffle) {
    m3ae_rng r = m3ae_rng_make(seed, M3AE_RNG_MIM_NOISE, epoch, sample);
    for (int p = 0; p < n_patches; p++) noise[p] = m3ae_rng_uniform(&r, (uint64_t)p);
    m3ae_argsort_stable(noise, ids_shuffle, n_patches);
}

/* The collator's all_special_ids (get_special_tokens_mask) and the pad mask: never labelled. */
static int is_special(int32_t id, int mask_id) {
    return id == M3AE_TOKEN_BOS || id == M3AE_TOKEN_EOS || id == M3AE_TOKEN_PAD || id == M3AE_TOKEN_UNK ||
           id == mask_id;
}

static void replace(const m3ae_rng *r, int p, const int32_t *ids, int vocab, int mask_id, int32_t *mlm_ids,
                    int32_t *mlm_labels) {
    mlm_labels[p] = ids[p];
    float u = m3ae_rng_uniform(r, MLM_WORD_DECIDE + (uint64_t)p);
    if (u < 0.8f)
        mlm_ids[p] = mask_id;
    else if (u < 0.9f)
        mlm_ids[p] = (int32_t)m3ae_rng_below(r, MLM_WORD_RANDOM + (uint64_t)p, (uint32_t)vocab);
    /* else unchanged */
}

int m3ae_mlm_mask(uint64_t seed, uint64_t epoch, uint64_t sample, const int32_t *ids, int L, int vocab,
                  int mask_id, float prob, int mode, const uint8_t *continuation, int32_t *mlm_ids,
                  int32_t *mlm_labels, int *draws) {
    m3ae_rng r = m3ae_rng_make(seed, M3AE_RNG_MLM, epoch, sample);
    for (int p = 0; p < L; p++) mlm_ids[p] = ids[p], mlm_labels[p] = M3AE_IGNORE_INDEX;
    int selected = 0, drawn = 0;
    if (mode == M3AE_MLM_BERNOULLI) {
        for (int p = 0; p < L; p++) {
            if (is_special(ids[p], mask_id)) continue;
            drawn++;
            if (m3ae_rng_uniform(&r, MLM_WORD_BERNOULLI + (uint64_t)p) < prob) {
                replace(&r, p, ids, vocab, mask_id, mlm_ids, mlm_labels);
                selected++;
            }
        }
        if (draws) *draws = drawn;
        return selected;
    }
    /* Python round() is round-half-even; L*prob is never exactly .5 for the usual L and prob,
     * but use nearbyint (round-half-even in the default mode) to match it anyway. */
    int num = (int)nearbyint((double)L * (double)prob);
    if (num < 1) num = 1;
    if (num > L) num = L;
    /* candidate groups as in _whole_word_mask: a "##" token joins the group before it, so groups
     * are runs of positions; start[g] is the first position of group g, start[G] = L */
    int32_t small[2 * 512 + 2];
    int32_t *buf = L <= 512 ? small : malloc(sizeof(int32_t) * (2 * (size_t)L + 2));
    if (!buf) return -1;
    int32_t *start = buf, *order = buf + L + 1;
    int G = 0;
    for (int p = 0; p < L; p++)
        if (G == 0 || !continuation || !continuation[ids[p]]) start[G++] = p;
    start[G] = L;
    for (int g = 0; g < G; g++) order[g] = g;
    /* random.shuffle(cand_indexes), then the groups in that order while they fit. A lazy
     * Fisher-Yates: step j fixes order[j] with word j, so stopping early leaves the prefix of the
     * full shuffle; with one position per group the loop ends at j = num (the token-level draws) */
    for (int j = 0; j < G && drawn < num; j++) {
        int k = j + (int)m3ae_rng_below(&r, (uint64_t)j, (uint32_t)(G - j));
        int32_t t = order[j];
        order[j] = order[k];
        order[k] = t;
        int g = order[j], size = start[g + 1] - start[g];
        if (drawn + size > num) continue; /* the whole word would overflow num_to_predict */
        drawn += size;
        for (int p = start[g]; p < start[g + 1]; p++) {
            if (is_special(ids[p], mask_id)) continue; /* dropped after the draw, as the collator does */
            replace(&r, p, ids, vocab, mask_id, mlm_ids, mlm_labels);
            selected++;
        }
    }
    if (buf != small) free(buf);
    if (draws) *draws = drawn;
    return selected;
}

void m3ae_itm_draw(uint64_t seed, uint64_t epoch, uint64_t sample, uint64_t n_samples, int32_t *label,
                   uint64_t *wrong_sample) {
    m3ae_rng r = m3ae_rng_make(seed, M3AE_RNG_ITM, epoch, sample);
    *label = m3ae_rng_uniform(&r, 0) < 0.5f ? 1 : 0;
    if (n_samples < 2) {
        *wrong_sample = sample;
        return;
    }
    uint64_t w;
    if (n_samples - 1 <= UINT32_MAX)
        w = m3ae_rng_below(&r, 1, (uint32_t)(n_samples - 1));
    else /* 64-bit range from two words (bias < 2^-32 for realistic sizes) */
        w = (((uint64_t)m3ae_rng_u32(&r, 1) << 32) | m3ae_rng_u32(&r, 2)) % (n_samples - 1);
    if (w >= sample) w++;
    *wrong_sample = w;
}
