#include "model/optimizer.h"

#include <math.h>
#include <string.h>

m3ae_adamw_config m3ae_adamw_official(void) {
    m3ae_adamw_config c = {.learning_rate = 1e-5,
                           .lr_mult_head = 5,
                           .lr_mult_multi_modal = 5,
                           .weight_decay = 0.01,
                           .beta1 = 0.9,
                           .beta2 = 0.98,
                           .eps = 1e-8,
                           .warmup_steps = 10000,
                           .max_steps = 100000,
                           .grad_clip = 0};
    return c;
}

/* transformers' get_polynomial_decay_schedule_with_warmup with power 1 and lr_end 0. */
double m3ae_lr_schedule(int64_t step, int64_t warmup_steps, int64_t max_steps) {
    if (step < warmup_steps) return (double)step / (double)(warmup_steps > 1 ? warmup_steps : 1);
    if (step > max_steps || max_steps <= warmup_steps) return 0.0;
    return 1.0 - (double)(step - warmup_steps) / (double)(max_steps - warmup_steps);
}

int m3ae_param_gets_gradient(const m3ae_param *p) {
    /* the RoBERTa pooler is never called (spec 1.2), so its grad is None and AdamW skips it */
    return p->trainable && strncmp(p->name, "language_encoder.pooler.", 24) != 0;
}

double m3ae_adamw_lr(const m3ae_adamw_config *c, const m3ae_param *p, int64_t step) {
    double mult = p->group == M3AE_LR_HEAD ? c->lr_mult_head
                  : p->group == M3AE_LR_MULTI_MODAL ? c->lr_mult_multi_modal
                                                   : 1.0;
    return c->learning_rate * mult * m3ae_lr_schedule(step, c->warmup_steps, c->max_steps);
}

/* Sum of squares of one tensor in double: chunks are summed in parallel and added in chunk order
 * (the ordered region), so the result has the same bits for any thread count. */
static double sum_squares(const float *g, size_t n) {
    enum { CHUNK = 1 << 14 };
    size_t nchunks = (n + CHUNK - 1) / CHUNK;
    double total = 0;
#pragma omp parallel for schedule(static) if (nchunks > 4) ordered
    for (size_t c = 0; c < nchunks; c++) {
        double s = 0;
        size_t end = (c + 1) * CHUNK < n ? (c + 1) * CHUNK : n;
        for (size_t i = c * CHUNK; i < end; i++) s += (double)g[i] * g[i];
#pragma omp ordered
        total += s;
    }
    return total;
}

double m3ae_adamw_step(const m3ae_adamw_config *c, const m3ae_registry *r, float *params, float *grads,
                       float *exp_avg, float *exp_avg_sq, int64_t step) {
    double sq = 0;
    for (int i = 0; i < r->n; i++)
        if (m3ae_param_gets_gradient(&r->p[i])) sq += sum_squares(grads + r->p[i].offset, r->p[i].numel);
    double norm = sqrt(sq);
    float clip = 1.0f;
    if (c->grad_clip > 0 && norm > c->grad_clip) clip = (float)(c->grad_clip / (norm + 1e-6));

    const double t = (double)(step + 1);
    const double bc1 = 1.0 - pow(c->beta1, t), bc2 = 1.0 - pow(c->beta2, t);
    const float b1 = (float)c->beta1, b2 = (float)c->beta2, eps = (float)c->eps;
    const float one_b1 = (float)(1.0 - c->beta1), one_b2 = (float)(1.0 - c->beta2);
    for (int i = 0; i < r->n; i++) {
        const m3ae_param *p = &r->p[i];
        if (!m3ae_param_gets_gradient(p)) continue;
        const double lr = m3ae_adamw_lr(c, p, step);
        const float step_size = (float)(lr * sqrt(bc2) / bc1);
        const float decay = p->decay ? (float)(lr * c->weight_decay) : 0.0f;
        float *w = params + p->offset, *m = exp_avg + p->offset, *v = exp_avg_sq + p->offset;
        const float *g = grads + p->offset;
        const size_t n = p->numel;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (size_t k = 0; k < n; k++) {
            float gk = g[k] * clip;
            m[k] = m[k] * b1 + one_b1 * gk;
            v[k] = v[k] * b2 + one_b2 * gk * gk;
            w[k] -= step_size * (m[k] / (sqrtf(v[k]) + eps));
            w[k] -= decay * w[k];
        }
    }
    return norm;
}
