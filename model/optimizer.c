#include "model/optimizer.h"

#include <math.h>

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

double m3ae_adamw_lr(const m3ae_adamw_config *c, const m3ae_param *p, int64_t step) {
    double mult = p->group == M3AE_LR_HEAD ? c->lr_mult_head
                  : p->group == M3AE_LR_MULTI_MODAL ? c->lr_mult_multi_modal
                                                   : 1.0;
    return c->learning_rate * mult * m3ae_lr_schedule(step, c->warmup_steps, c->max_steps);
}

double m3ae_adamw_tensor_sq(m3ae_backend *be, const m3ae_registry *r, const float *grads, int i) {
    const m3ae_param *p = &r->p[i];
    return p->has_grad ? be->ops->sq_norm(be, grads + p->offset, p->numel) : 0.0;
}

double m3ae_adamw_norm(const m3ae_registry *r, const double *sq) {
    /* added in registry order, whatever order the tensors' sums arrived in */
    double s = 0;
    for (int i = 0; i < r->n; i++)
        if (r->p[i].has_grad) s += sq[i];
    return sqrt(s);
}

float m3ae_adamw_clip_factor(const m3ae_adamw_config *c, double norm) {
    return c->grad_clip > 0 && norm > c->grad_clip ? (float)(c->grad_clip / (norm + 1e-6)) : 1.0f;
}

void m3ae_adamw_tensor(m3ae_backend *be, const m3ae_adamw_config *c, const m3ae_registry *r, int i, float *params,
                       float *grads, float *exp_avg, float *exp_avg_sq, int64_t step, float clip) {
    const m3ae_param *p = &r->p[i];
    if (!p->has_grad) return;
    const double t = (double)(step + 1);
    m3ae_adamw_args a = {.beta1 = c->beta1,
                         .beta2 = c->beta2,
                         .eps = c->eps,
                         .bias_correction1 = 1.0 - pow(c->beta1, t),
                         .bias_correction2 = 1.0 - pow(c->beta2, t),
                         .grad_scale = clip};
    a.lr = m3ae_adamw_lr(c, p, step);
    a.weight_decay = p->decay ? c->weight_decay : 0.0;
    be->ops->adamw(be, params + p->offset, grads + p->offset, exp_avg + p->offset, exp_avg_sq + p->offset, p->numel,
                   &a);
}

double m3ae_adamw_step(m3ae_backend *be, const m3ae_adamw_config *c, const m3ae_registry *r, float *params,
                       float *grads, float *exp_avg, float *exp_avg_sq, int64_t step) {
    /* the global norm: per-tensor sums of squares (each deterministic), added in registry order */
    double sq = 0;
    for (int i = 0; i < r->n; i++)
        if (r->p[i].has_grad) sq += m3ae_adamw_tensor_sq(be, r, grads, i);
    double norm = sqrt(sq);
    float clip = m3ae_adamw_clip_factor(c, norm);
    for (int i = 0; i < r->n; i++) m3ae_adamw_tensor(be, c, r, i, params, grads, exp_avg, exp_avg_sq, step, clip);
    return norm;
}
