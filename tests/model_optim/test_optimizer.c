/* AdamW and the schedule against a double-precision transcription of transformers' AdamW
 * (correct_bias, decoupled decay after the update), the official groups, skipped tensors, clipping,
 * and the same bits for 1 and 2 threads. */
#include <omp.h>

#include "common/arena.h"
#include "common/rng.h"
#include "model/optimizer.h"
#include "harness.h"

static void fill(float *x, size_t n, uint64_t purpose, float scale) {
    m3ae_rng r = m3ae_rng_make(7, purpose, 0, 0);
    for (size_t i = 0; i < n; i++) x[i] = scale * m3ae_rng_normal(&r, i);
}

int main(void) {
    /* schedule: linear warm-up from 0, linear decay to 0 */
    T_CHECK(m3ae_lr_schedule(0, 100, 1000) == 0.0, "step 0 must have lr 0");
    T_CLOSE(m3ae_lr_schedule(50, 100, 1000), 0.5, 1e-15, 0, "mid warm-up");
    T_CLOSE(m3ae_lr_schedule(100, 100, 1000), 1.0, 1e-15, 0, "end of warm-up");
    T_CLOSE(m3ae_lr_schedule(550, 100, 1000), 0.5, 1e-15, 0, "mid decay");
    T_CHECK(m3ae_lr_schedule(1000, 100, 1000) == 0.0 && m3ae_lr_schedule(1200, 100, 1000) == 0.0, "end");
    m3ae_adamw_config off = m3ae_adamw_official();
    T_CHECK(off.learning_rate == 1e-5 && off.beta2 == 0.98 && off.eps == 1e-8 && off.weight_decay == 0.01 &&
                off.warmup_steps == 10000 && off.max_steps == 100000 && off.grad_clip == 0,
            "official values");

    m3ae_config cfg;
    m3ae_error err;
    T_CHECK(m3ae_config_preset(&cfg, "tiny", &err) == 0, "%s", err.msg);
    m3ae_backend *be = m3ae_backend_open("cpu", NULL, &err);
    T_CHECK(be != NULL, "cpu backend: %s", err.msg);
    if (!be) return t_done("test_optimizer");
    m3ae_registry reg;
    m3ae_registry_build(&reg, &cfg);
    size_t n = reg.arena_floats;
    float *p = m3ae_alloc(n * 4, "p"), *g = m3ae_alloc(n * 4, "g"), *m = m3ae_alloc(n * 4, "m"),
          *v = m3ae_alloc(n * 4, "v"), *p2 = m3ae_alloc(n * 4, "p2"), *m2 = m3ae_alloc(n * 4, "m2"),
          *v2 = m3ae_alloc(n * 4, "v2");
    double *dp = m3ae_alloc(n * 8, "dp"), *dm = m3ae_alloc(n * 8, "dm"), *dv = m3ae_alloc(n * 8, "dv");
    fill(p, n, 1, 0.5f);
    for (size_t i = 0; i < n; i++) dp[i] = p[i];
    memcpy(p2, p, n * 4);
    m3ae_adamw_config c = off;
    c.learning_rate = 1e-2, c.warmup_steps = 2, c.max_steps = 10;
    double worst = 0;
    for (int64_t step = 0; step < 4; step++) {
        fill(g, n, 100 + (uint64_t)step, 0.1f);
        omp_set_num_threads(1);
        m3ae_adamw_step(be, &c, &reg, p, g, m, v, step);
        omp_set_num_threads(2);
        double norm = m3ae_adamw_step(be, &c, &reg, p2, g, m2, v2, step);
        /* reference, in double */
        double sq = 0;
        for (int t = 0; t < reg.n; t++) {
            const m3ae_param *q = &reg.p[t];
            if (!q->has_grad) continue;
            double lr = m3ae_adamw_lr(&c, q, step);
            double bc1 = 1 - pow(0.9, (double)step + 1), bc2 = 1 - pow(0.98, (double)step + 1);
            for (size_t k = q->offset; k < q->offset + q->numel; k++) {
                sq += (double)g[k] * g[k];
                dm[k] = 0.9 * dm[k] + 0.1 * g[k];
                dv[k] = 0.98 * dv[k] + 0.02 * (double)g[k] * g[k];
                dp[k] -= lr * sqrt(bc2) / bc1 * dm[k] / (sqrt(dv[k]) + 1e-8);
                if (q->decay) dp[k] -= lr * 0.01 * dp[k];
            }
        }
        T_CLOSE(norm, sqrt(sq), 0, 1e-12, "gradient norm %g vs %g", norm, sqrt(sq));
        for (int t = 0; t < reg.n; t++) {
            const m3ae_param *q = &reg.p[t];
            for (size_t k = q->offset; k < q->offset + q->numel; k++) {
                double e = fabs(p[k] - dp[k]) / (1e-7 + 1e-6 * fabs(dp[k])); /* in units of the tolerance */
                if (e > worst) worst = e;
            }
        }
    }
    T_CHECK(worst <= 1.0, "AdamW differs from the double reference by %g x (1e-7 + 1e-6 |p|)", worst);
    printf("AdamW vs double reference: worst error %.3g x (1e-7 + 1e-6 |p|)\n", worst);
    T_CHECK(!memcmp(p, p2, n * 4) && !memcmp(m, m2, n * 4) && !memcmp(v, v2, n * 4), "1 and 2 threads differ");
    /* skipped tensors are untouched; groups */
    int seen_pool = 0, seen_pos = 0;
    for (int t = 0; t < reg.n; t++) {
        const m3ae_param *q = &reg.p[t];
        int untouched = q->numel > 0 && p[q->offset] == (float)dp[q->offset] && m[q->offset] == 0.0f;
        if (!strncmp(q->name, "language_encoder.pooler.", 24)) {
            seen_pool++;
            T_CHECK(untouched, "%s was updated", q->name);
        }
        if (!strcmp(q->name, "mim_head.decoder_pos_embed")) {
            seen_pos++;
            T_CHECK(untouched && !q->trainable, "%s", q->name);
        }
    }
    T_CHECK(seen_pool == 2 && seen_pos == 1, "registry lacks the pooler (%d) or the fixed position table (%d)", seen_pool, seen_pos);
    int i1 = m3ae_registry_find(&reg, "multi_modal_vision_layers.0.attention.self.query.weight");
    int i2 = m3ae_registry_find(&reg, "mlm_head.bias");
    int i3 = m3ae_registry_find(&reg, "vision_encoder.visual.ln_pre.weight");
    T_CHECK(i1 >= 0 && i2 >= 0 && i3 >= 0, "names missing from the registry");
    if (i1 >= 0 && i2 >= 0 && i3 >= 0) {
        T_CLOSE(m3ae_adamw_lr(&c, &reg.p[i1], 2), 5e-2, 0, 1e-12, "multi-modal lr x5");
        T_CLOSE(m3ae_adamw_lr(&c, &reg.p[i2], 2), 5e-2, 0, 1e-12, "head lr x5");
        T_CLOSE(m3ae_adamw_lr(&c, &reg.p[i3], 2), 1e-2, 0, 1e-12, "base lr");
        T_CHECK(reg.p[i3].decay && !reg.p[i2].decay, "CLIP ln weights decay, biases do not");
    }
    /* clipping: the update uses g * clip / norm */
    c.grad_clip = 1e-3;
    memcpy(p2, p, n * 4);
    memset(m2, 0, n * 4), memset(v2, 0, n * 4);
    double norm = m3ae_adamw_step(be, &c, &reg, p2, g, m2, v2, 4);
    int k = (int)reg.p[i1].offset;
    T_CLOSE(m2[k], 0.1 * g[k] * 1e-3 / (norm + 1e-6), 1e-12, 1e-5, "clipped first moment");
    m3ae_registry_free(&reg);
    m3ae_backend_close(be);
    void *all[] = {p, g, m, v, p2, m2, v2, dp, dm, dv};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) m3ae_free(all[i]);
    return t_done("test_optimizer");
}
