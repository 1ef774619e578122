/* The layers of M3AE, written once against the operations interface (model/backend.h):
 *  - the pre-LN CLIP residual block (ViT and MIM decoder): QuickGELU, eps 1e-5, fused in_proj;
 *  - the post-LN BERT attention sub-layer (self- or cross-attention; RoBERTa and fusion layers);
 *  - the post-LN BERT feed-forward sub-layer (intermediate + output).
 * Weights and gradients are structs of pointers into the parameter / gradient arenas (bound by the
 * modules' tensor functions, model/backbone.h); saved activations are structs of pointers into the activation arena.
 * Gradient contract: parameter gradients accumulate; the comment of each backward says what it does
 * with activation gradients. Internal to model/. */
#ifndef M3AE_MODEL_LAYERS_H
#define M3AE_MODEL_LAYERS_H

#include "model/backend.h"

/* Backward scratch shared by all layers (sized by the model's memory plan for the largest layer). */
typedef struct {
    float *t1, *t2;     /* (B,T,Cmax) */
    float *dq, *dk, *dv; /* (B,T,Cmax) */
    float *dff;         /* (B,T,Fmax) */
    float *att;         /* (B,Hmax,Tmax,Tmax) attention backward scratch */
} m3ae_scratch;

/* ---- pre-LN CLIP block ---- */
typedef struct {
    float *in_w, *in_b;     /* (3C,C), (3C) */
    float *out_w, *out_b;   /* (C,C), (C) */
    float *ln1_g, *ln1_b;   /* (C) */
    float *fc_w, *fc_b;     /* (4C,C), (4C) */
    float *proj_w, *proj_b; /* (C,4C), (C) */
    float *ln2_g, *ln2_b;   /* (C) */
} m3ae_clip_w;

typedef struct {
    float *ln1, *mean1, *rstd1; /* (B,T,C), (B*T) x2 */
    float *qkv;                 /* (B,T,3C) */
    float *probs;               /* (B,heads,T,T) */
    float *attn;                /* (B,T,C) */
    float *xmid;                /* (B,T,C) x + attention branch */
    float *ln2, *mean2, *rstd2; /* (B,T,C), (B*T) x2 */
    float *fc, *act;            /* (B,T,4C) before / after QuickGELU */
} m3ae_clip_acts;

/* out (B,T,C) = block(x (B,T,C)); out must not alias x. */
void m3ae_clip_block_forward(m3ae_backend *be, float *out, const float *x, const m3ae_clip_w *w,
                             m3ae_clip_acts *a, int B, int T, int C, int heads);
/* dres (B,T,C): in: gradient of the block output; out: gradient of the block input (written). */
void m3ae_clip_block_backward(m3ae_backend *be, float *dres, const float *x, const m3ae_clip_w *w,
                              m3ae_clip_w *g, const m3ae_clip_acts *a, const m3ae_scratch *s, int B, int T,
                              int C, int heads);

/* ---- post-LN BERT attention sub-layer: out = LN(xq + Drop(O(MHA(Q xq, K xc, V xc)))) ---- */
typedef struct {
    float *q_w, *q_b, *k_w, *k_b, *v_w, *v_b; /* (C,C), (C) */
    float *o_w, *o_b;                         /* (C,C), (C) */
    float *ln_g, *ln_b;                       /* (C) */
} m3ae_bert_attn_w;

typedef struct {
    float *q;          /* (B,Tq,C) */
    float *k, *v;      /* (B,Tk,C) */
    float *probs;      /* (B,heads,Tq,Tk) */
    float *ctx;        /* (B,Tq,C) */
    float *sum;        /* (B,Tq,C) residual sum before LN */
    float *mean, *rstd; /* (B*Tq) */
    float *out;        /* (B,Tq,C) */
} m3ae_bert_attn_acts;

/* key_mask (B,Tk) additive or NULL; drop_probs / drop_out may be NULL (off). */
void m3ae_bert_attn_forward(m3ae_backend *be, const float *xq, const float *xc, const m3ae_bert_attn_w *w,
                            m3ae_bert_attn_acts *a, const float *key_mask, int B, int Tq, int Tk, int C,
                            int heads, float eps, const m3ae_dropout *drop_probs, const m3ae_dropout *drop_out);
/* dout (B,Tq,C) gradient of out (clobbered); dxq (B,Tq,C) and dxc (B,Tk,C) ACCUMULATE (they may be the
 * same buffer for self-attention). */
void m3ae_bert_attn_backward(m3ae_backend *be, float *dout, float *dxq, float *dxc, const float *xq,
                             const float *xc, const m3ae_bert_attn_w *w, m3ae_bert_attn_w *g,
                             const m3ae_bert_attn_acts *a, const m3ae_scratch *s, int B, int Tq, int Tk, int C,
                             int heads, const m3ae_dropout *drop_probs, const m3ae_dropout *drop_out);

/* ---- post-LN BERT feed-forward sub-layer: out = LN(x + Drop(W2 GELU(W1 x))) ---- */
typedef struct {
    float *i_w, *i_b; /* (F,C), (F) */
    float *o_w, *o_b; /* (C,F), (C) */
    float *ln_g, *ln_b;
} m3ae_bert_ffn_w;

typedef struct {
    float *inter, *act; /* (B,T,F) before / after GELU */
    float *sum;         /* (B,T,C) */
    float *mean, *rstd; /* (B*T) */
    float *out;         /* (B,T,C) */
} m3ae_bert_ffn_acts;

void m3ae_bert_ffn_forward(m3ae_backend *be, const float *x, const m3ae_bert_ffn_w *w, m3ae_bert_ffn_acts *a,
                           int B, int T, int C, int F, float eps, const m3ae_dropout *drop);
/* dout clobbered; dx ACCUMULATES. */
void m3ae_bert_ffn_backward(m3ae_backend *be, float *dout, float *dx, const float *x, const m3ae_bert_ffn_w *w,
                            m3ae_bert_ffn_w *g, const m3ae_bert_ffn_acts *a, const m3ae_scratch *s, int B, int T,
                            int C, int F, const m3ae_dropout *drop);

#endif
