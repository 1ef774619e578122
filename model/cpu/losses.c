/* Losses: softmax cross-entropy (MLM, ITM) and the masked per-patch MSE of MIM. Per-row losses are
 * summed in row order, so the totals do not depend on the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/error.h"
#include "model/cpu/cpu_internal.h"

/* One row of cross-entropy: returns the loss, writes g (V) when g != NULL, *right = argmax == label.
 * g may alias x. Exps summed in double over 8 lanes in a fixed order (vectorises; same bits at every SIMD level). */
M3AE_CPU_SIMD_CLONES static double ce_row(float *g, const float *x, int V, int label, float grad_scale, int *right) {
    float mx = x[0];
    int arg = 0;
    for (int j = 1; j < V; j++)
        if (x[j] > mx) {
            mx = x[j];
            arg = j;
        }
    const float xl = x[label];
    double l8[8] = {0};
    int v8 = V & ~7;
    double s = 0.0;
    if (g) {
        for (int j = 0; j < V; j++) g[j] = m3ae_cpu_expf(x[j] - mx);
        for (int j = 0; j < v8; j += 8)
            for (int l = 0; l < 8; l++) l8[l] += g[j + l];
        for (int j = v8; j < V; j++) s += g[j];
    } else {
        for (int j = 0; j < v8; j += 8)
            for (int l = 0; l < 8; l++) l8[l] += m3ae_cpu_expf(x[j + l] - mx);
        for (int j = v8; j < V; j++) s += m3ae_cpu_expf(x[j] - mx);
    }
    for (int l = 0; l < 8; l++) s += l8[l];
    if (g) {
        const float f = (float)(grad_scale / s);
        for (int j = 0; j < V; j++) g[j] *= f;
        g[label] -= grad_scale;
    }
    *right = arg == label;
    return (double)mx + log(s) - (double)xl;
}

size_t m3ae_cpu_cross_entropy_workspace(int64_t n) {
    return n > 0 ? m3ae_align_up((size_t)n * sizeof(double)) + (size_t)n : 0;
}

size_t m3ae_cpu_mim_loss_workspace(int64_t n) { return n > 0 ? (size_t)n * sizeof(double) : 0; }

double m3ae_cpu_cross_entropy(m3ae_backend *be, float *dlogits, const float *logits, const int32_t *labels, int n, int V,
                              int ignore_index, float grad_scale, int *count, int *correct) {
    // logits (n,V), labels (n) -> dlogits (n,V) (may alias logits); returns the summed loss
    if (n <= 0) {
        if (count) *count = 0;
        if (correct) *correct = 0;
        return 0.0;
    }
    char *ws = m3ae_backend_workspace(be, m3ae_cpu_cross_entropy_workspace(n), "cross_entropy (row losses)");
    double *row_loss = (double *)ws;
    unsigned char *row_flags = (unsigned char *)ws + m3ae_align_up((size_t)n * sizeof(double)); /* bit 0: used, bit 1: correct */
    for (int r = 0; r < n; r++)
        M3AE_CHECK(labels[r] == ignore_index || (labels[r] >= 0 && labels[r] < V), M3AE_EXIT_FAIL,
                   "cross_entropy: label %d at row %d is outside [0, %d) and is not ignore_index %d", (int)labels[r],
                   r, V, ignore_index);
#pragma omp parallel for schedule(static) if ((size_t)n * V >= M3AE_CPU_PAR_MIN)
    for (int r = 0; r < n; r++) {
        float *g = dlogits ? dlogits + (size_t)r * V : NULL;
        if (labels[r] == ignore_index) {
            row_loss[r] = 0.0;
            row_flags[r] = 0;
            if (g) memset(g, 0, (size_t)V * sizeof(float));
            continue;
        }
        int right = 0;
        row_loss[r] = ce_row(g, logits + (size_t)r * V, V, labels[r], grad_scale, &right);
        row_flags[r] = (unsigned char)(1 | (right ? 2 : 0));
    }
    double total = 0.0;
    int used = 0, hits = 0;
    for (int r = 0; r < n; r++) {
        total += row_loss[r];
        used += row_flags[r] & 1;
        hits += (row_flags[r] >> 1) & 1;
    }
    if (count) *count = used;
    if (correct) *correct = hits;
    return total;
}

double m3ae_cpu_mim_loss(m3ae_backend *be, float *dpred, const float *pred, const float *target, const float *mask, int n, int D,
                         float grad_scale) {
    // pred (n,D), target (n,D), mask (n) -> dpred (n,D) (may alias pred); returns sum_r mask[r] mean_d (p-t)^2
    if (n <= 0) return 0.0;
    double *row_loss = m3ae_backend_workspace(be, m3ae_cpu_mim_loss_workspace(n), "mim_loss (row losses)");
#pragma omp parallel for schedule(static) if ((size_t)n * D >= M3AE_CPU_PAR_MIN)
    for (int r = 0; r < n; r++) {
        const float *p = pred + (size_t)r * D, *t = target + (size_t)r * D;
        float m = mask[r];
        double s = 0.0;
        for (int d = 0; d < D; d++) {
            double e = (double)p[d] - t[d];
            s += e * e;
        }
        row_loss[r] = m * (s / D);
        if (dpred) {
            float *g = dpred + (size_t)r * D;
            float f = grad_scale * m * 2.0f / (float)D;
            for (int d = 0; d < D; d++) g[d] = f * (p[d] - t[d]);
        }
    }
    double total = 0.0;
    for (int r = 0; r < n; r++) total += row_loss[r];
    return total;
}
