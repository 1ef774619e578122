/* The downstream classifier head (classifier.h): registration, forward and backward. */
#include "model/heads/classifier.h"

#include <stdio.h>


void m3ae_classifier_tensors(m3ae_tensor_builder *b, const m3ae_config *c, const char *prefix, int n_labels,
                             int module, int grad_group, m3ae_classifier_w *w) {
    if (n_labels <= 0) return;
    const int64_t H2 = 2 * (int64_t)c->hidden_size;
    char name[3][64];
    for (int k = 0; k < 3; k++) snprintf(name[k], sizeof name[k], "%s.%d", prefix, k == 2 ? 3 : k);
    m3ae_builder_section(b, module, M3AE_BWD_ITM_HEAD); /* the head stage: before the poolers */
    m3ae_builder_group(b, grad_group, 0, 0);
    m3ae_linear_tensors(b, M3AE_SLOT(w, fc1_w), M3AE_SLOT(w, fc1_b), H2, H2, name[0]);
    m3ae_layernorm_tensors(b, M3AE_SLOT(w, ln_g), M3AE_SLOT(w, ln_b), H2, name[1]);
    m3ae_linear_tensors(b, M3AE_SLOT(w, fc2_w), M3AE_SLOT(w, fc2_b), n_labels, H2, name[2]);
}

void m3ae_classifier_forward(m3ae_backend *be, const m3ae_classifier_w *w, m3ae_classifier_acts *a, const float *x,
                             int B, int H2, int n) {
    be->ops->linear_forward(be, a->h, x, w->fc1_w, w->fc1_b, B, H2, H2); // (B,2H)
    be->ops->layernorm_forward(be, a->ln, a->mean, a->rstd, a->h, w->ln_g, w->ln_b, B, H2, M3AE_HEAD_LN_EPS);
    be->ops->gelu_forward(be, a->g, a->ln, (size_t)B * H2);
    be->ops->linear_forward(be, a->logits, a->g, w->fc2_w, w->fc2_b, B, H2, n); // (B,n)
}

void m3ae_classifier_backward(m3ae_backend *be, const m3ae_classifier_w *w, m3ae_classifier_w *g,
                              const m3ae_classifier_acts *a, const float *x, float *dx, float *t1, float *t2, int B,
                              int H2, int n) {
    be->ops->linear_backward(be, t1, g->fc2_w, g->fc2_b, a->dlogits, a->g, w->fc2_w, B, H2, n, 0); // (B,2H)
    be->ops->gelu_backward(be, t1, t1, a->ln, (size_t)B * H2);
    be->ops->layernorm_backward(be, t2, g->ln_g, g->ln_b, t1, a->h, a->mean, a->rstd, w->ln_g, B, H2, 0);
    be->ops->linear_backward(be, dx, g->fc1_w, g->fc1_b, t2, x, w->fc1_w, B, H2, H2, 0); // (B,2H)
}
