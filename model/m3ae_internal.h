/* Internals of the M3AE model shared by model/m3ae*.c: weight bindings (structs of pointers into the
 * parameter or gradient arena, resolved by registry name) and the activation plan. */
#ifndef M3AE_MODEL_M3AE_INTERNAL_H
#define M3AE_MODEL_M3AE_INTERNAL_H

#include "model/layers.h"
#include "model/m3ae.h"

/* Every tensor of the model, bound to one arena (parameters, or gradients with the same layout).
 * Stream index s: 0 = language, 1 = vision. */
typedef struct {
    /* CLIP visual */
    float *cls, *pos, *conv;      /* (Dv), (N+1,Dv), (Dv,3,P,P) */
    float *ln_pre_g, *ln_pre_b, *ln_post_g, *ln_post_b;
    m3ae_clip_w *vblk;            /* [vision_layers] */
    /* RoBERTa */
    float *word, *tpos, *ttype;   /* (V,Dt), (maxpos,Dt), (1,Dt) */
    float *emb_ln_g, *emb_ln_b;
    m3ae_bert_attn_w *tattn;      /* [text_layers] */
    m3ae_bert_ffn_w *tffn;
    float *tpool_w, *tpool_b;     /* unused RoBERTa pooler */
    /* projections, type embeddings */
    float *proj_w[2], *proj_b[2]; /* (H,Dt), (H,Dv) */
    float *type_emb;              /* (2,H) */
    /* fusion [stream][layer] */
    m3ae_bert_attn_w *fself[2], *fcross[2];
    m3ae_bert_ffn_w *fffn[2];
    float *pool_w[2], *pool_b[2];
    /* MLM head */
    float *mlm_dense_w, *mlm_dense_b, *mlm_ln_g, *mlm_ln_b, *mlm_dec_w, *mlm_bias;
    /* MIM head */
    float *mask_token, *dec_pos, *dec_embed_w, *dec_embed_b;
    m3ae_clip_w *dblk;            /* [mim_decoder_num_layers] */
    float *dec_norm_g, *dec_norm_b, *dec_pred_w, *dec_pred_b;
    /* ITM head */
    float *itm_w, *itm_b;
} m3ae_weights;

/* Saved activations of one pass (sized for the largest pass) and the backward buffers. */
typedef struct {
    /* vision */
    float *img;                      /* (B,3,H,W) */
    float *patches;                  /* (B,N,PD) (c,p,q) order, the conv1 GEMM input */
    float *tokens;                   /* (B,N+1,Dv) CLS + patches, with positions */
    float *vis_in;                   /* (B,T,Dv) the encoder input (gathered in the MIM pass) */
    float *ln_pre_mean, *ln_pre_rstd;
    float **vis_x;                   /* [vision_layers+1] (B,T,Dv); [0] = ln_pre output */
    m3ae_clip_acts *vblk;
    float *vis_out, *ln_post_mean, *ln_post_rstd; /* (B,T,Dv) vision_embeds */
    /* text */
    float *text_mask;                /* (B,L) additive */
    float *emb_sum, *emb_mean, *emb_rstd, *emb_out; /* (B,L,Dt) */
    m3ae_bert_attn_acts *tattn;
    m3ae_bert_ffn_acts *tffn;
    /* fusion */
    float *S0[2];                    /* (B,L,H), (B,T,H) projected + type embedding */
    m3ae_bert_attn_acts *fself[2], *fcross[2];
    m3ae_bert_ffn_acts *fffn[2];
    float *pool_in[2], *pool_pre[2], *pool_out[2]; /* (B,H) */
    float *cls;                      /* (B,2H) */
    /* MLM head */
    float *mlm_x, *mlm_h, *mlm_g, *mlm_ln, *mlm_mean, *mlm_rstd; /* (rows,H), rows <= B*L */
    float *mlm_logits, *mlm_dlogits;                     /* (B,L,V) */
    int32_t *mlm_labels;                                 /* (B,L) backend copy of the labels */
    /* MIM head */
    float *mim_ext;                  /* (B,keep+2,Dd) embedded visible tokens + mask token */
    float **dec_x;                   /* [mim_decoder_num_layers+1] (B,N+1,Dd) */
    m3ae_clip_acts *dblk;
    float *dec_norm, *dec_mean, *dec_rstd;           /* (B,N+1,Dd) */
    float *mim_pred, *mim_target, *mim_dpred;         /* (B,N,PD) */
    float *mim_mask;                                   /* (B,N) */
    /* ITM head */
    float *itm_logits, *itm_dlogits; /* (B,2) */
    int32_t *itm_labels;             /* (B) backend copy */
    /* backward */
    m3ae_scratch s;
    float *u1, *u2;                  /* (B,Tmax,Cmax) sub-layer gradients */
    float *dS[2][2];                 /* [ping-pong][stream] (B,Tmax,H) */
    float *d_text, *d_text2;         /* (B,L,Dt) */
    float *d_vis, *d_vis2;           /* (B,N+1,Dv) */
    float *d_tokens;                 /* (B,N+1,Dv) */
    float *d_cls;                    /* (B,2H) */
    float *d_dec, *d_dec2;           /* (B,N+1,Dd) */
    float *d_ext;                    /* (B,keep+2,Dd) */
    float *d_inj;                    /* (B,keep+1,H) MIM head gradient injected mid-fusion (joint pass) */
} m3ae_acts;

struct m3ae_model {
    m3ae_config cfg;
    const m3ae_ops *ops;
    m3ae_registry reg;
    int max_batch;
    float *params, *grads;  /* arenas (backend) */
    void *act_block;        /* one activation block (backend) */
    size_t act_bytes;
    m3ae_weights w, g;
    m3ae_acts a;
    /* host index buffers (allocated once) */
    int32_t *h_ids, *h_pos, *h_zeros, *h_ones, *h_keep_idx, *h_unshuf, *h_labels, *h_itm_labels;
    int32_t *h_mlm_rows;    /* (B * L) the text positions the MLM head computes */
    int mlm_rows;           /* how many (last MLM forward) */
    int mlm_all_positions;  /* 1: the MLM head runs on every position (mlm_logits output) */
    float *h_fbuf;          /* (B * max(N, L)) host floats: masks */
    int64_t *h_sample_ids;
    /* state */
    int train;
    uint64_t seed;
    int cur_pass, cur_B, cur_T; /* last forward: pass, batch, image tokens */
    double denom[4];            /* loss denominators of the last forward of each pass */
    m3ae_losses last;
};

/* Dropout site id: unique per (pass, stream, layer, place). stream: 0 text encoder, 1 fusion text,
 * 2 fusion image. place: 0 embeddings, 1 self-attn probs, 2 self-attn output, 3 cross probs,
 * 4 cross output, 5 feed-forward output. */
static inline uint32_t m3ae_dropout_site(int pass, int stream, int layer, int place) {
    return (uint32_t)(((pass * 4 + stream) * 256 + layer) * 8 + place);
}

#endif
