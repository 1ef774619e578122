/* The optimizer entries on the CPU: one AdamW update of a tensor and the squared norm of a
 * gradient, both with the arithmetic of model/optimizer.c before the backend interface (same bits). */
#include <math.h>

#include "model/cpu/cpu_internal.h"

void m3ae_cpu_adamw(float *param, const float *grad, float *exp_avg, float *exp_avg_sq, size_t n,
                    const m3ae_adamw_args *a) {
    // param, grad, exp_avg, exp_avg_sq (n); elementwise, so any thread split gives the same bits
    const float step_size = (float)(a->lr * sqrt(a->bias_correction2) / a->bias_correction1);
    const float decay = a->weight_decay != 0 ? (float)(a->lr * a->weight_decay) : 0.0f;
    const float b1 = (float)a->beta1, b2 = (float)a->beta2, eps = (float)a->eps;
    const float one_b1 = (float)(1.0 - a->beta1), one_b2 = (float)(1.0 - a->beta2);
    const float clip = a->grad_scale;
    float *w = param, *m = exp_avg, *v = exp_avg_sq;
    const float *g = grad;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t k = 0; k < n; k++) {
        float gk = g[k] * clip;
        m[k] = m[k] * b1 + one_b1 * gk;
        v[k] = v[k] * b2 + one_b2 * gk * gk;
        w[k] -= step_size * (m[k] / (sqrtf(v[k]) + eps));
        w[k] -= decay * w[k];
    }
}

/* Chunks are summed in parallel and added in chunk order (the ordered region), so the result has
 * the same bits for any thread count. */
double m3ae_cpu_sq_norm(const float *x, size_t n) {
    enum { CHUNK = 1 << 14 };
    size_t nchunks = (n + CHUNK - 1) / CHUNK;
    double total = 0;
#pragma omp parallel for schedule(static) if (nchunks > 4) ordered
    for (size_t c = 0; c < nchunks; c++) {
        double s = 0;
        size_t end = (c + 1) * CHUNK < n ? (c + 1) * CHUNK : n;
        for (size_t i = c * CHUNK; i < end; i++) s += (double)x[i] * x[i];
#pragma omp ordered
        total += s;
    }
    return total;
}
