/* The work FLOP model's backward reach (m3ae_flops_reaches) against what the model's backward does:
 * the tiny model runs one pass forward + backward from zeroed gradients, and a fusion layer of a
 * stream (or a stream's encoder + projection) has a non-zero parameter gradient exactly when the
 * FLOP model counts its backward. Every pass, mim_layer 0 .. num_top_layer, both objectives. */
#include <stdint.h>
#include <string.h>

#include "common/sort.h"
#include "common/rng.h"
#include "harness.h"
#include "model/config.h"
#include "model/flops.h"
#include "model/m3ae.h"
#include "model/registry.h"

#define NB 2

static int starts_with(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

/* any non-zero gradient among the parameters named with one of the prefixes */
static int any_grad(const m3ae_registry *r, const float *g, const char *p1, const char *p2) {
    for (int i = 0; i < r->n; i++) {
        const m3ae_param *p = &r->p[i];
        if (!starts_with(p->name, p1) && !(p2 && starts_with(p->name, p2))) continue;
        for (size_t k = 0; k < p->numel; k++)
            if (g[p->offset + k] != 0.0f) return 1;
    }
    return 0;
}

static void run(int objective, int mim_layer, const m3ae_batch *tmpl) {
    m3ae_config cfg;
    m3ae_error err;
    m3ae_config_preset(&cfg, "tiny", &err);
    cfg.objective = objective;
    cfg.mim_layer = mim_layer;
    T_CHECK(m3ae_config_validate(&cfg, &err) == 0, "config: %s", err.msg);
    m3ae_backend *be = m3ae_backend_open("cpu", NULL, &err);
    T_CHECK(be != NULL, "backend: %s", err.msg);
    m3ae_model *m = m3ae_model_create(&cfg, be, NB);
    const m3ae_registry *r = m3ae_model_registry(m);
    m3ae_model_init_params(m, 3);
    m3ae_model_set_train(m, 0, 0); /* no dropout: a dropped unit cannot hide a gradient */
    float *g = malloc(r->arena_floats * sizeof(float));
    const int passes[2][3] = {{M3AE_PASS_MLM, M3AE_PASS_MIM, M3AE_PASS_ITM}, {M3AE_PASS_JOINT, M3AE_PASS_ITM, -1}};
    m3ae_model_stage(m, tmpl);
    for (int k = 0; k < 3 && passes[objective][k] >= 0; k++) {
        const int pass = passes[objective][k];
        m3ae_model_zero_grads(m);
        m3ae_model_forward(m, (m3ae_pass)pass, tmpl);
        m3ae_model_backward(m, (m3ae_pass)pass, tmpl);
        be->ops->download(be, g, m3ae_model_grads(m), r->arena_floats * sizeof(float));
        be->ops->sync(be);
        for (int s = 0; s < 2; s++) {
            for (int i = -1; i < cfg.num_top_layer; i++) {
                char prefix[96];
                int got;
                if (i >= 0) {
                    snprintf(prefix, sizeof prefix, "multi_modal_%s_layers.%d.", s ? "vision" : "language", i);
                    got = any_grad(r, g, prefix, NULL);
                } else {
                    snprintf(prefix, sizeof prefix, "%s", s ? "encoder + projection (image)" : "encoder + projection (text)");
                    got = s ? any_grad(r, g, "vision_encoder.visual.transformer.", "multi_modal_vision_proj.")
                            : any_grad(r, g, "language_encoder.encoder.", "multi_modal_language_proj.");
                }
                int want = m3ae_flops_reaches(&cfg, pass, s, i);
                T_CHECK(got == want, "objective %s, mim_layer %d, pass %d: %s has %s gradient, the FLOP model says %s",
                        objective ? "joint" : "separate", mim_layer, pass, prefix, got ? "a" : "no",
                        want ? "reached" : "not reached");
            }
        }
    }
    free(g);
    m3ae_model_destroy(m);
    m3ae_backend_close(be);
}

int main(void) {
    m3ae_config cfg;
    m3ae_error err;
    m3ae_config_preset(&cfg, "tiny", &err);
    const int L = cfg.max_text_len, N = m3ae_cfg_patches(&cfg), S = cfg.image_size, V = cfg.vocab_size;
    m3ae_rng rg = m3ae_rng_make(5, 99, 0, 0);
    uint64_t k = 0;
    static float img[NB * 3 * 64 * 64], img2[NB * 3 * 64 * 64], noise[256];
    static int32_t ids[NB * 64], mids[NB * 64], masks[NB * 64], labels[NB * 64], shuf[NB * 256];
    T_CHECK(S <= 64 && L <= 64 && N <= 256, "tiny grew: buffers too small");
    if (t_failures) return t_done("test_model_flops_reach");
    for (int i = 0; i < NB * 3 * S * S; i++) img[i] = m3ae_rng_normal(&rg, k++), img2[i] = m3ae_rng_normal(&rg, k++);
    for (int s = 0; s < NB; s++) {
        int len = L - 3 * s;
        for (int t = 0; t < L; t++) {
            int i = s * L + t;
            ids[i] = t == 0 ? 0 : t == len - 1 ? 2 : t < len ? 4 + (int)m3ae_rng_below(&rg, k++, (uint32_t)V - 5) : 1;
            masks[i] = t < len;
            labels[i] = t > 0 && t < len - 1 && t % 3 == 1 ? ids[i] : -100;
            mids[i] = labels[i] != -100 ? V - 1 : ids[i];
        }
        for (int j = 0; j < N; j++) noise[j] = m3ae_rng_uniform(&rg, k++);
        m3ae_argsort_stable(noise, shuf + s * N, N);
    }
    int32_t itm[NB] = {1, 0};
    int64_t sid[NB] = {3, 8};
    m3ae_batch b = {.B = NB, .images = img, .itm_images = img2, .text_ids = ids, .text_masks = masks, .mlm_ids = mids,
                    .mlm_labels = labels, .mim_ids_shuffle = shuf, .itm_labels = itm, .sample_ids = sid};
    for (int objective = 0; objective < 2; objective++)
        for (int ml = 0; ml <= cfg.num_top_layer; ml++) run(objective, ml, &b);
    return t_done("test_model_flops_reach");
}
