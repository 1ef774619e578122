/* The FLOP model (model/flops.h): the official-equivalent count of spec 7 at base, the work count
 * (the MLM head on the labelled rows, backward where m3ae_pass.c goes) against the spec's
 * exact-backprop variant, work <= official for every preset, objective and mim_layer, and the MLM
 * head term of the official count reproduced by the work count at max_text_len rows. */
#include <math.h>
#include <string.h>

#include "harness.h"
#include "model/config.h"
#include "model/flops.h"

static m3ae_config preset(const char *name) {
    m3ae_config c;
    m3ae_error err;
    T_CHECK(m3ae_config_preset(&c, name, &err) == 0, "preset %s: %s", name, err.msg);
    return c;
}

static void test_base(void) {
    m3ae_config c = preset("base");
    m3ae_flops o;
    m3ae_flops_compute(&c, &o);
    /* spec 7: 277.78 GFLOP forward, 833.33 training (3 x forward) per sample */
    T_CLOSE(o.forward_total / 1e9, 277.78, 0.005, 0, "official forward %.4f GFLOP (spec 277.78)", o.forward_total / 1e9);
    T_CLOSE(o.train_total / 1e9, 833.33, 0.005, 0, "official training %.4f GFLOP (spec 833.33)", o.train_total / 1e9);
    m3ae_flops_work w;
    m3ae_flops_work_compute(&c, 64, &w);
    /* spec 7 "exact-backprop variant" 800.9 GFLOP: the MLM head on all 64 rows, backward only on
     * a gradient path. Per pass, from the spec's per-layer figures: MLM 2 x (117.90 - 5.907 (image
     * fusion layer 5) - 0.002 (poolers)) - 0.382 (conv input gradient) = 223.60; MIM 2 x (11.02 +
     * 13.38 + 0.170 + 3 x 1.542 + 2 x 1.279 + 5.49) - 0.382 = 74.11; ITM 2 x 112.88 - 0.382 = 225.39 */
    T_CLOSE(w.train_total / 1e9, 800.9, 0.05, 0, "work at 64 rows %.3f GFLOP (spec exact-backprop 800.9)", w.train_total / 1e9);
    T_CLOSE(w.forward_total / 1e9, 277.78, 0.005, 0, "work forward at 64 rows %.4f", w.forward_total / 1e9);
    T_CLOSE(w.backward[0] / 1e9, 223.60, 0.01, 0, "MLM backward %.3f GFLOP", w.backward[0] / 1e9);
    T_CLOSE(w.backward[1] / 1e9, 74.11, 0.01, 0, "MIM backward %.3f GFLOP", w.backward[1] / 1e9);
    T_CLOSE(w.backward[2] / 1e9, 225.39, 0.01, 0, "ITM backward %.3f GFLOP", w.backward[2] / 1e9);
    /* the MLM head term: 64 rows, forward + full backward = 3 x the official head (3 x 5.017) */
    T_CLOSE(w.mlm_head_forward + w.mlm_head_backward, 3 * o.head[0], 0, 1e-12, "MLM head term %.6g vs official 3 x %.6g",
            w.mlm_head_forward + w.mlm_head_backward, o.head[0]);
    T_CLOSE(o.head[0] / 1e9, 5.017, 0.001, 0, "official MLM head %.4f GFLOP (spec 5.017)", o.head[0] / 1e9);
    /* 10 labelled rows (the official draw count): the head shrinks 6.4 x, nothing else changes */
    m3ae_flops_work w10;
    m3ae_flops_work_compute(&c, 10, &w10);
    double head_diff = (w.mlm_head_forward + w.mlm_head_backward) - (w10.mlm_head_forward + w10.mlm_head_backward);
    T_CLOSE(w.train_total - w10.train_total, head_diff, 0, 1e-12, "rows change more than the MLM head");
    T_CLOSE(head_diff, 3 * o.head[0] * 54.0 / 64.0, 0, 1e-12, "MLM head not linear in the rows");
    printf("base: official %.2f GFLOP/sample, work %.2f at 64 rows, %.2f at 10 rows\n", o.train_total / 1e9,
           w.train_total / 1e9, w10.train_total / 1e9);
}

/* MIM with mim_layer 0: no gradient reaches the text stream, so its backward is the image side
 * alone; mim_layer = num_top_layer: every fusion layer, both streams below the top one. */
static void test_reach(void) {
    m3ae_config c = preset("base");
    m3ae_flops_work w0, w1, wt;
    c.mim_layer = 0;
    m3ae_flops_work_compute(&c, 10, &w0);
    c.mim_layer = 1;
    m3ae_flops_work_compute(&c, 10, &w1);
    c.mim_layer = c.num_top_layer;
    m3ae_flops_work_compute(&c, 10, &wt);
    /* from level 1 to 0: image fusion layer 0 (82 queries, 1.542 GFLOP) and, now reached, the text
     * encoder (11.02) and the text projection (64 x 768^2 MACs = 0.0755 GFLOP), each 2 x */
    T_CLOSE((w1.backward[1] - w0.backward[1]) / 1e9, 2 * (1.542 + 11.02 + 0.0755), 0.02, 0,
            "MIM backward mim_layer 1 - 0 = %.3f GFLOP", (w1.backward[1] - w0.backward[1]) / 1e9);
    T_CHECK(wt.backward[1] > w1.backward[1] && w0.backward[1] > 0, "MIM backward grows with mim_layer");
    T_CHECK(w0.backward[0] == w1.backward[0] && w0.backward[2] == w1.backward[2], "mim_layer changed another pass");
}

static void test_bound(void) {
    static const char *names[] = {"tiny", "small", "base"};
    int bad = 0, n = 0;
    for (int k = 0; k < 3; k++)
        for (int joint = 0; joint < 2; joint++) {
            m3ae_config c = preset(names[k]);
            c.objective = joint ? M3AE_OBJECTIVE_JOINT : M3AE_OBJECTIVE_SEPARATE;
            for (int ml = 0; ml <= c.num_top_layer; ml++) {
                c.mim_layer = ml;
                m3ae_flops o;
                m3ae_flops_compute(&c, &o);
                const double rows[] = {0, 1, 10, c.max_text_len};
                for (int r = 0; r < 4; r++) {
                    m3ae_flops_work w;
                    m3ae_flops_work_compute(&c, rows[r], &w);
                    n++;
                    int ok = w.train_total <= o.train_total * (1 + 1e-12) && w.train_total > 0 &&
                             w.forward_total <= o.forward_total * (1 + 1e-12) && w.backward_total <= 2 * o.forward_total;
                    for (int p = 0; p < 3; p++) ok &= w.forward[p] <= o.forward[p] * (1 + 1e-12) && w.backward[p] >= 0;
                    if (!ok) {
                        bad++;
                        printf("  %s %s mim_layer %d rows %g: work %.6g > official %.6g\n", names[k],
                               joint ? "joint" : "separate", ml, rows[r], w.train_total, o.train_total);
                    }
                    if (rows[r] == c.max_text_len)
                        T_CLOSE(w.mlm_head_forward + w.mlm_head_backward, 3 * o.head[0], 0, 1e-12,
                                "%s: MLM head term at %d rows", names[k], c.max_text_len);
                }
            }
        }
    T_CHECK(bad == 0, "%d of %d configurations count more work than the official FLOPs", bad, n);
}

int main(void) {
    test_base();
    test_reach();
    test_bound();
    return t_done("test_model_flops");
}
