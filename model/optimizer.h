/* AdamW as the official run (spec 3.1: transformers 4.x AdamW with correct_bias=True) over the
 * registry's six parameter groups, and the learning-rate schedule (linear warm-up from 0 at step 0,
 * then linear decay to 0 at max_steps).
 *
 * Per parameter tensor, with t = number of updates so far + 1:
 *   m = b1 m + (1-b1) g ;  v = b2 v + (1-b2) g^2
 *   p -= lr_t * sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)
 *   p -= lr_t * wd * p            (decoupled, AFTER the Adam update, decay groups only)
 * lr_t = learning_rate * group multiplier * schedule(step). Tensors that get no gradient in the
 * official model (the registry's has_grad: the fixed MIM position table, the unused RoBERTa pooler)
 * are skipped entirely. */
#ifndef M3AE_MODEL_OPTIMIZER_H
#define M3AE_MODEL_OPTIMIZER_H

#include <stddef.h>
#include <stdint.h>

#include "model/backend.h"
#include "model/registry.h"

typedef struct {
    double learning_rate;              /* peak lr of the base group (official 1e-5) */
    double lr_mult_head;               /* x for mlm/mim/itm/vqa/cls/irtr heads (official 5) */
    double lr_mult_multi_modal;        /* x for projections, fusion layers, poolers (official 5) */
    double weight_decay;               /* official 0.01 */
    double beta1, beta2, eps;          /* official 0.9, 0.98, 1e-8 */
    int64_t warmup_steps, max_steps;   /* official 10 000 and 100 000 */
    double grad_clip;                  /* global-norm clipping; 0 = off (the official run) */
} m3ae_adamw_config;

/* The official values (spec 0 and 3.1). */
m3ae_adamw_config m3ae_adamw_official(void);

/* Schedule factor in [0, 1] for optimizer step `step` (0-based: the first update uses step 0). */
double m3ae_lr_schedule(int64_t step, int64_t warmup_steps, int64_t max_steps);

/* Learning rate of tensor p at `step`. */
double m3ae_adamw_lr(const m3ae_adamw_config *c, const m3ae_param *p, int64_t step);

/* One update of every tensor of the registry through the backend's sq_norm and adamw entries.
 * params, grads, exp_avg, exp_avg_sq are arenas laid out by r in the backend's memory. `step` is
 * the 0-based optimizer step (so bias correction uses step + 1). Returns the global gradient norm
 * (before clipping). Deterministic for any thread count. */
double m3ae_adamw_step(m3ae_backend *be, const m3ae_adamw_config *c, const m3ae_registry *r, float *params,
                       float *grads, float *exp_avg, float *exp_avg_sq, int64_t step);

/* The pieces of m3ae_adamw_step, for an optimizer that runs tensor by tensor as the gradient
 * all-reduce delivers them (launch/train/trainer.c with dist/buckets.h); together they give the
 * same bits as m3ae_adamw_step. Sum of squares of tensor i's gradient (0 without a gradient): */
double m3ae_adamw_tensor_sq(m3ae_backend *be, const m3ae_registry *r, const float *grads, int i);
/* sqrt of the sum of sq[i] (one per registry entry) in registry order: the global norm. */
double m3ae_adamw_norm(const m3ae_registry *r, const double *sq);
/* The gradient scale of global-norm clipping (1 when off or under the limit). */
float m3ae_adamw_clip_factor(const m3ae_adamw_config *c, double norm);
/* The update of tensor i (nothing without a gradient), its gradient scaled by clip. */
void m3ae_adamw_tensor(m3ae_backend *be, const m3ae_adamw_config *c, const m3ae_registry *r, int i, float *params,
                       float *grads, float *exp_avg, float *exp_avg_sq, int64_t step, float clip);

#endif
