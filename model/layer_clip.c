/* The pre-LN CLIP residual block (ViT blocks and MIM decoder blocks):
 *   x = x + out_proj(MHA(ln_1(x)));  x = x + c_proj(QuickGELU(c_fc(ln_2(x))))
 * LayerNorm eps 1e-5, fused in_proj (q | k | v), q scaled by 1/sqrt(head_dim) (applied to the
 * scores: the same product), no attention mask, no dropout. */
#include <math.h>

#include "model/layers.h"

#define CLIP_LN_EPS 1e-5f

void m3ae_clip_block_forward(m3ae_backend *be, float *out, const float *x, const m3ae_clip_w *w,
                             m3ae_clip_acts *a, int B, int T, int C, int heads) {
    const int n = B * T, hd = C / heads;
    be->ops->layernorm_forward(be, a->ln1, a->mean1, a->rstd1, x, w->ln1_g, w->ln1_b, n, C, CLIP_LN_EPS); // (B,T,C)
    be->ops->linear_forward(be, a->qkv, a->ln1, w->in_w, w->in_b, n, C, 3 * C);                            // (B,T,3C)
    be->ops->attention_forward(be, a->attn, C, a->probs, a->qkv, 3 * C, a->qkv + C, 3 * C, a->qkv + 2 * C, 3 * C, NULL, B,
                         T, T, heads, hd, 1.0f / sqrtf((float)hd), NULL);                     // (B,T,C)
    be->ops->linear_forward(be, a->xmid, a->attn, w->out_w, w->out_b, n, C, C);                           // (B,T,C)
    be->ops->add_inplace(be, a->xmid, x, (size_t)n * C);
    be->ops->layernorm_forward(be, a->ln2, a->mean2, a->rstd2, a->xmid, w->ln2_g, w->ln2_b, n, C, CLIP_LN_EPS);
    be->ops->linear_forward(be, a->fc, a->ln2, w->fc_w, w->fc_b, n, C, 4 * C); // (B,T,4C)
    be->ops->quickgelu_forward(be, a->act, a->fc, (size_t)n * 4 * C);
    be->ops->linear_forward(be, out, a->act, w->proj_w, w->proj_b, n, 4 * C, C); // (B,T,C)
    be->ops->add_inplace(be, out, a->xmid, (size_t)n * C);
}

void m3ae_clip_block_backward(m3ae_backend *be, float *dres, const float *x, const m3ae_clip_w *w,
                              m3ae_clip_w *g, const m3ae_clip_acts *a, const m3ae_scratch *s, int B, int T,
                              int C, int heads) {
    const int n = B * T, hd = C / heads;
    /* MLP branch; dres keeps the residual gradient */
    be->ops->linear_backward(be, s->dff, g->proj_w, g->proj_b, dres, a->act, w->proj_w, n, 4 * C, C, 0); // (B,T,4C)
    be->ops->quickgelu_backward(be, s->dff, s->dff, a->fc, (size_t)n * 4 * C);
    be->ops->linear_backward(be, s->t1, g->fc_w, g->fc_b, s->dff, a->ln2, w->fc_w, n, C, 4 * C, 0); // (B,T,C)
    be->ops->layernorm_backward(be, dres, g->ln2_g, g->ln2_b, s->t1, a->xmid, a->mean2, a->rstd2, w->ln2_g, n, C, 1);
    /* attention branch: dres is now d xmid */
    be->ops->linear_backward(be, s->t1, g->out_w, g->out_b, dres, a->attn, w->out_w, n, C, C, 0); // d attn (B,T,C)
    float *dqkv = s->dff;                                                                 // (B,T,3C)
    be->ops->attention_backward(be, dqkv, dqkv + C, dqkv + 2 * C, s->att, s->t1, C, a->probs, a->qkv, 3 * C, a->qkv + C,
                          3 * C, a->qkv + 2 * C, 3 * C, B, T, T, heads, hd, 1.0f / sqrtf((float)hd), NULL);
    be->ops->linear_backward(be, s->t2, g->in_w, g->in_b, dqkv, a->ln1, w->in_w, n, C, 3 * C, 0); // d ln1 (B,T,C)
    be->ops->layernorm_backward(be, dres, g->ln1_g, g->ln1_b, s->t2, x, a->mean1, a->rstd1, w->ln1_g, n, C, 1);
}
