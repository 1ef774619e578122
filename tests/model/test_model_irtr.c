/* Cross-encoder retrieval on cached unimodal features (m3ae_model_encode_texts / _images /
 * score_pairs, model/m3ae.h) against the direct per-pair evaluation: every image x text pair of a
 * small split run through the ITM pass (full text encoder, vision encoder, fusion, ITM head), whose
 * match logit itm_logits[:,1] must equal the cached score of the same pair up to float tolerance.
 * Texts of different lengths (padding), more pairs than one batch (the last batch partial), pairs in
 * an order other than the cache's, and a second weight set (another seed), so that the caching
 * cannot silently differ (a wrong mask, a stale stream, a wrong row of the head). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "harness.h"
#include "model/m3ae.h"

enum { NI = 3, NT = 4, BMAX = 5 };

int main(void) {
    m3ae_config cfg;
    m3ae_error err;
    m3ae_config_preset(&cfg, "tiny", &err);
    m3ae_backend *be = m3ae_backend_open("cpu", NULL, &err);
    T_CHECK(be != NULL, "cpu backend: %s", err.msg);
    if (!be) return t_done("test_model_irtr");
    const int L = cfg.max_text_len, S = cfg.image_size, V = cfg.vocab_size;
    m3ae_model *m = m3ae_model_create(&cfg, be, BMAX);
    m3ae_rng g = m3ae_rng_make(21, 7, 0, 0);
    uint64_t k = 0;
    float *img = malloc(sizeof(float) * NI * 3 * S * S);
    for (int i = 0; i < NI * 3 * S * S; i++) img[i] = m3ae_rng_normal(&g, k++);
    int32_t ids[NT * 64], masks[NT * 64];
    T_CHECK(L <= 64, "tiny max_text_len %d <= 64", L);
    for (int t = 0; t < NT; t++) {
        const int len = L - 3 * t; /* every text padded differently */
        for (int p = 0; p < L; p++) {
            int32_t v = 4 + (int32_t)(m3ae_rng_u32(&g, k++) % (uint32_t)(V - 5));
            if (p == 0) v = 0;
            if (p == len - 1) v = 2;
            ids[t * L + p] = p < len ? v : 1;
            masks[t * L + p] = p < len;
        }
    }
    const size_t tb = m3ae_model_text_feature_bytes(m), ib = m3ae_model_image_feature_bytes(m);
    char *tfeat = malloc(tb * NT), *ifeat = malloc(ib * NI);
    /* pairs in text-major order (the cache is filled image-major below): pair q = (image q % NI, text q / NI) */
    const int NP = NI * NT;
    for (int seed = 1; seed <= 2; seed++) {
        m3ae_model_init_params(m, (uint64_t)seed);
        m3ae_model_set_train(m, 0, 0);
        /* the caches: texts in two calls (2 + 2), images in one */
        m3ae_model_encode_texts(m, ids, masks, 2, tfeat);
        m3ae_model_encode_texts(m, ids + 2 * L, masks + 2 * L, NT - 2, tfeat + 2 * tb);
        m3ae_model_encode_images(m, img, NI, ifeat);
        float cached[NI * NT], direct[NI * NT];
        for (int q0 = 0; q0 < NP; q0 += BMAX) {
            const int B = NP - q0 < BMAX ? NP - q0 : BMAX;
            const void *tp[BMAX], *ip[BMAX];
            const int32_t *mp[BMAX];
            for (int s = 0; s < B; s++) {
                const int q = q0 + s, i = q % NI, t = q / NI;
                tp[s] = tfeat + (size_t)t * tb, mp[s] = masks + t * L, ip[s] = ifeat + (size_t)i * ib;
            }
            m3ae_model_score_pairs(m, tp, mp, ip, B, cached + q0);
        }
        /* direct: the ITM pass on the same pairs, one batch of B per call */
        float *pimg = malloc(sizeof(float) * BMAX * 3 * S * S);
        for (int q0 = 0; q0 < NP; q0 += BMAX) {
            const int B = NP - q0 < BMAX ? NP - q0 : BMAX;
            int32_t pid[BMAX * 64], pmask[BMAX * 64], lab[BMAX];
            for (int s = 0; s < B; s++) {
                const int q = q0 + s, i = q % NI, t = q / NI;
                memcpy(pimg + (size_t)s * 3 * S * S, img + (size_t)i * 3 * S * S, sizeof(float) * 3 * S * S);
                memcpy(pid + s * L, ids + t * L, sizeof(int32_t) * L);
                memcpy(pmask + s * L, masks + t * L, sizeof(int32_t) * L);
                lab[s] = 1;
            }
            m3ae_batch b = {.B = B, .itm_images = pimg, .text_ids = pid, .text_masks = pmask, .itm_labels = lab};
            m3ae_model_stage(m, &b);
            m3ae_model_forward(m, M3AE_PASS_ITM, &b);
            size_t n = 0;
            const float *lg = m3ae_model_output(m, "itm_logits", &n);
            T_CHECK(lg && n == (size_t)B * 2, "itm_logits output of %d pairs (%zu)", B, n);
            float h[BMAX * 2];
            be->ops->download(be, h, lg, sizeof(float) * 2 * B);
            for (int s = 0; s < B; s++) direct[q0 + s] = h[2 * s + 1];
        }
        free(pimg);
        double worst = 0, spread = 0;
        int wq = 0;
        for (int q = 0; q < NP; q++) {
            const double d = fabs((double)cached[q] - direct[q]);
            if (d > worst) worst = d, wq = q;
            spread = fmax(spread, fabs((double)direct[q] - direct[0]));
        }
        T_CHECK(worst <= 1e-5 * (1 + fabs(direct[wq])), "seed %d: cached score of pair %d (image %d, text %d) %.8g, "
                "direct ITM pass %.8g (|diff| %.3g)", seed, wq, wq % NI, wq / NI, cached[wq], direct[wq], worst);
        /* the pairs must be distinguishable, or the comparison proves nothing */
        T_CHECK(spread > 1e-4, "seed %d: the %d pair scores are all equal (spread %.3g): the test cannot fail", seed, NP,
                spread);
        printf("seed %d: %d pairs, max |cached - direct| = %.3g, score spread %.3g\n", seed, NP, worst, spread);
    }
    free(tfeat), free(ifeat), free(img);
    m3ae_model_destroy(m);
    m3ae_backend_close(be);
    return t_done("test_model_irtr");
}
