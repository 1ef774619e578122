/* The classifier head of the downstream tasks (spec 1.6, official vqa_head and cls_head): one
 * implementation behind both. Linear(2H,2H), LayerNorm(2H, eps 1e-5), GELU(erf), Linear(2H, n) on
 * the pooled multi-modal features [text CLS, image CLS] (B,2H) -> logits (B,n). The heads differ
 * only in their names (prefix.{0,1,3}.*; index 2 is the GELU), their label count, their registry
 * section and gradient group, and the loss the pass puts on the logits (model/m3ae_pass.c: BCE x n
 * for VQA, softmax cross-entropy for classification). Registered after every pretraining tensor
 * (a pretraining checkpoint's layout is a prefix of the fine-tuning one) and fresh at fine-tuning
 * start: N(0,0.02) weights, zero biases, unit LayerNorm, as the official init_weights. */
#ifndef M3AE_MODEL_HEADS_CLASSIFIER_H
#define M3AE_MODEL_HEADS_CLASSIFIER_H

#include "model/backend.h"
#include "model/config.h"
#include "model/registry.h"

/* LayerNorm eps of the downstream heads (nn.LayerNorm default). */
#define M3AE_HEAD_LN_EPS 1e-5f

typedef struct {
    float *fc1_w, *fc1_b; /* (2H,2H), (2H) */
    float *ln_g, *ln_b;   /* (2H) */
    float *fc2_w, *fc2_b; /* (n,2H), (n) */
} m3ae_classifier_w;

/* Saved activations of one forward (pointers into the activation arena). */
typedef struct {
    float *h, *ln, *g;       /* (B,2H) fc1 output, LayerNorm output, GELU output */
    float *mean, *rstd;      /* (B) LayerNorm statistics */
    float *logits, *dlogits; /* (B,n) */
} m3ae_classifier_acts;

/* Registers (or binds) prefix.0 (Linear 2H->2H), prefix.1 (LayerNorm), prefix.3 (Linear 2H->n) in
 * registry section `module` and gradient-ready group `grad_group`. Nothing when n_labels <= 0.
 * w may be NULL in REGISTER mode. */
void m3ae_classifier_tensors(m3ae_tensor_builder *b, const m3ae_config *c, const char *prefix, int n_labels,
                             int module, int grad_group, m3ae_classifier_w *w);

/* x (B,2H) -> a->logits (B,n); a->h, ln, g, mean, rstd saved for the backward. */
void m3ae_classifier_forward(m3ae_backend *be, const m3ae_classifier_w *w, m3ae_classifier_acts *a, const float *x,
                             int B, int H2, int n);
/* From a->dlogits (B,n): accumulates the head's parameter gradients into g and WRITES dx (B,2H),
 * the gradient of the pooled features. t1, t2: (B,2H) scratch. */
void m3ae_classifier_backward(m3ae_backend *be, const m3ae_classifier_w *w, m3ae_classifier_w *g,
                              const m3ae_classifier_acts *a, const float *x, float *dx, float *t1, float *t2, int B,
                              int H2, int n);

#endif
