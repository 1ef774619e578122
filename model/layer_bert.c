/* The post-LN BERT sub-layers of RoBERTa and of the fusion BertCrossLayer:
 *   attention: out = LN(xq + Drop(O · softmax(Q xq (K xc)^T / sqrt(hd) + mask) (V xc)))   (probs dropout too)
 *   feed-forward: out = LN(x + Drop(W2 GELU(W1 x)))    (GELU with erf) */
#include <math.h>
#include <stddef.h>

#include "model/layers.h"

void m3ae_bert_attn_forward(m3ae_backend *be, const float *xq, const float *xc, const m3ae_bert_attn_w *w,
                            m3ae_bert_attn_acts *a, const float *key_mask, int B, int Tq, int Tk, int C,
                            int heads, float eps, const m3ae_dropout *drop_probs, const m3ae_dropout *drop_out) {
    const int nq = B * Tq, nk = B * Tk, hd = C / heads;
    be->ops->linear_forward(be, a->q, xq, w->q_w, w->q_b, nq, C, C); // (B,Tq,C)
    be->ops->linear_forward(be, a->k, xc, w->k_w, w->k_b, nk, C, C); // (B,Tk,C)
    be->ops->linear_forward(be, a->v, xc, w->v_w, w->v_b, nk, C, C); // (B,Tk,C)
    be->ops->attention_forward(be, a->ctx, C, a->probs, a->q, C, a->k, C, a->v, C, key_mask, B, Tq, Tk, heads, hd,
                         1.0f / sqrtf((float)hd), drop_probs); // (B,Tq,C)
    be->ops->linear_forward(be, a->sum, a->ctx, w->o_w, w->o_b, nq, C, C);
    if (drop_out) be->ops->dropout_forward(be, a->sum, a->sum, B, (size_t)Tq * C, drop_out);
    be->ops->add_inplace(be, a->sum, xq, (size_t)nq * C);
    be->ops->layernorm_forward(be, a->out, a->mean, a->rstd, a->sum, w->ln_g, w->ln_b, nq, C, eps); // (B,Tq,C)
}

void m3ae_bert_attn_backward(m3ae_backend *be, float *dout, float *dxq, float *dxc, const float *xq,
                             const float *xc, const m3ae_bert_attn_w *w, m3ae_bert_attn_w *g,
                             const m3ae_bert_attn_acts *a, const m3ae_scratch *s, int B, int Tq, int Tk, int C,
                             int heads, const m3ae_dropout *drop_probs, const m3ae_dropout *drop_out) {
    const int nq = B * Tq, nk = B * Tk, hd = C / heads;
    be->ops->layernorm_backward(be, s->t1, g->ln_g, g->ln_b, dout, a->sum, a->mean, a->rstd, w->ln_g, nq, C, 0); // d sum
    be->ops->add_inplace(be, dxq, s->t1, (size_t)nq * C); /* residual */
    if (drop_out) be->ops->dropout_backward(be, s->t1, s->t1, B, (size_t)Tq * C, drop_out);
    be->ops->linear_backward(be, s->t2, g->o_w, g->o_b, s->t1, a->ctx, w->o_w, nq, C, C, 0); // d ctx (B,Tq,C)
    be->ops->attention_backward(be, s->dq, s->dk, s->dv, s->att, s->t2, C, a->probs, a->q, C, a->k, C, a->v, C, B, Tq, Tk,
                          heads, hd, 1.0f / sqrtf((float)hd), drop_probs);
    be->ops->linear_backward(be, dxq, g->q_w, g->q_b, s->dq, xq, w->q_w, nq, C, C, 1);
    be->ops->linear_backward(be, dxc, g->k_w, g->k_b, s->dk, xc, w->k_w, nk, C, C, 1);
    be->ops->linear_backward(be, dxc, g->v_w, g->v_b, s->dv, xc, w->v_w, nk, C, C, 1);
}

void m3ae_bert_ffn_forward(m3ae_backend *be, const float *x, const m3ae_bert_ffn_w *w, m3ae_bert_ffn_acts *a,
                           int B, int T, int C, int F, float eps, const m3ae_dropout *drop) {
    const int n = B * T;
    be->ops->linear_forward(be, a->inter, x, w->i_w, w->i_b, n, C, F); // (B,T,F)
    be->ops->gelu_forward(be, a->act, a->inter, (size_t)n * F);
    be->ops->linear_forward(be, a->sum, a->act, w->o_w, w->o_b, n, F, C); // (B,T,C)
    if (drop) be->ops->dropout_forward(be, a->sum, a->sum, B, (size_t)T * C, drop);
    be->ops->add_inplace(be, a->sum, x, (size_t)n * C);
    be->ops->layernorm_forward(be, a->out, a->mean, a->rstd, a->sum, w->ln_g, w->ln_b, n, C, eps);
}

void m3ae_bert_ffn_backward(m3ae_backend *be, float *dout, float *dx, const float *x, const m3ae_bert_ffn_w *w,
                            m3ae_bert_ffn_w *g, const m3ae_bert_ffn_acts *a, const m3ae_scratch *s, int B, int T,
                            int C, int F, const m3ae_dropout *drop) {
    const int n = B * T;
    be->ops->layernorm_backward(be, s->t1, g->ln_g, g->ln_b, dout, a->sum, a->mean, a->rstd, w->ln_g, n, C, 0);
    be->ops->add_inplace(be, dx, s->t1, (size_t)n * C); /* residual */
    if (drop) be->ops->dropout_backward(be, s->t1, s->t1, B, (size_t)T * C, drop);
    be->ops->linear_backward(be, s->dff, g->o_w, g->o_b, s->t1, a->act, w->o_w, n, F, C, 0); // (B,T,F)
    be->ops->gelu_backward(be, s->dff, s->dff, a->inter, (size_t)n * F);
    be->ops->linear_backward(be, dx, g->i_w, g->i_b, s->dff, x, w->i_w, n, C, F, 1);
}
