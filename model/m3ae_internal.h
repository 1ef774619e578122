/* Internals of the M3AE model shared by model/m3ae*.c: weight bindings (structs of pointers into the
 * parameter or gradient arena, bound by the modules' tensor functions), the activation plan and the staging area
 * of one micro-batch. */
#ifndef M3AE_MODEL_M3AE_INTERNAL_H
#define M3AE_MODEL_M3AE_INTERNAL_H

#include "model/heads/cls.h"
#include "model/heads/irtr.h"
#include "model/heads/itm.h"
#include "model/heads/mim.h"
#include "model/heads/mlm.h"
#include "model/heads/vqa.h"
#include "model/layers.h"
#include "model/m3ae.h"

/* Every tensor of the model, bound to one arena (parameters, or gradients with the same layout) by
 * running m3ae_model_tensors in BIND mode (model/backbone.h). Stream index s: 0 = language, 1 = vision. */
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
    /* heads (model/heads/) */
    m3ae_mlm_w mlm;
    m3ae_mim_w mim;
    m3ae_itm_w itm;
    m3ae_vqa_w vqa; /* NULL slots when cfg.vqa_labels == 0 */
    m3ae_cls_w cls_head; /* NULL slots when cfg.cls_labels == 0 */
    m3ae_irtr_w irtr; /* NULL slots when cfg.irtr_head == 0 */
} m3ae_weights;

/* Saved activations of one pass (sized for the largest pass) and the backward buffers. Every buffer
 * holds elements of `dtype` (the backend's activation dtype; the plan sizes them with
 * m3ae_dtype_bytes(dtype)), the pointers are handles typed float *. */
typedef struct {
    m3ae_dtype dtype;
    /* vision */
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
    /* MIM head */
    float *mim_ext;                  /* (B,keep+2,Dd) embedded visible tokens + mask token */
    float **dec_x;                   /* [mim_decoder_num_layers+1] (B,N+1,Dd) */
    m3ae_clip_acts *dblk;
    float *dec_norm, *dec_mean, *dec_rstd;           /* (B,N+1,Dd) */
    float *mim_pred, *mim_target, *mim_dpred;         /* (B,N,PD) */
    /* ITM head */
    float *itm_logits, *itm_dlogits; /* (B,2) */
    /* downstream classifier heads (model/heads/classifier.h; only when their label count > 0) */
    m3ae_classifier_acts vqa, cls_head; /* cls_head: "cls" is the pooled features (CLS tokens) */
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

/* The staging area of one micro-batch (m3ae_model_stage): the images and every index array the
 * passes read, in backend memory, written once per micro-batch. The index region (from ids[0] on) is
 * contiguous and mirrored by a host block of the same layout, so it travels in one upload. */
typedef struct {
    float *img, *itm_img;         /* (B,3,S,S) MLM/MIM images, ITM images */
    int32_t *zeros, *ones;        /* (B*Tmax) token-type 0 / modality ids 0 and 1 (constant) */
    int32_t *ids[2];              /* (B,L) [0] text_ids, [1] mlm_ids */
    int32_t *pos[2];              /* (B,L) RoBERTa positions of each */
    float *text_mask;             /* (B,L) additive key mask: 0 real, -10000 padding */
    int32_t *mlm_rows[2];         /* (B*L) rows the MLM head computes: [0] predicted only, [1] all */
    int32_t *mlm_labels[2];       /* (B*L) their labels */
    int32_t *keep_idx;            /* (B,keep+1) CLS + the kept patches (1 + ids_shuffle[:keep]) */
    int32_t *unshuf;              /* (B,N+1) decoder token j <- kept token or the mask token */
    float *mim_mask;              /* (B,N) 1 removed, 0 kept */
    int32_t *itm_labels;          /* (B) */
    int32_t *cls_labels;          /* (B) class, or M3AE_IGNORE_INDEX for a class outside the vocabulary */
    int64_t *sample_ids;          /* (B) dropout sample ids */
    char *end;                    /* end of the index region */
} m3ae_staged;

/* What the staged batch holds (which passes it can feed) and its host-side facts. */
typedef struct {
    int valid, B;
    int has_text, has_mlm, has_images, has_itm_images, has_mim, has_itm, has_vqa, has_cls;
    int mlm_rows[2];   /* rows of mlm_rows[0] (the predicted positions) and [1] (B*L) */
    int mlm_local;     /* predicted tokens in this micro-batch */
    int irtr_k;        /* candidates per image of an IRTR batch (images = B / irtr_k); 0 otherwise */
} m3ae_stage_info;

/* ---- gradient-ready groups (model/m3ae_hooks.c) ----
 * A group is a contiguous range of registry entries whose gradients one piece of backward finishes
 * together. Kinds are indexed by (stream, layer) where they repeat. */
typedef enum {
    M3AE_GG_MLM_HEAD = 0, /* the whole MLM head */
    M3AE_GG_MIM_OUT,      /* decoder_norm, decoder_pred */
    M3AE_GG_MIM_BLOCK,    /* [layer] decoder block */
    M3AE_GG_MIM_IN,       /* mask_token, decoder_pos_embed (fixed), decoder_embed */
    M3AE_GG_ITM_HEAD,
    M3AE_GG_POOLERS,      /* both fusion poolers */
    M3AE_GG_FUSION_FFN,   /* [stream][layer] */
    M3AE_GG_FUSION_CROSS, /* [stream][layer] */
    M3AE_GG_FUSION_SELF,  /* [stream][layer] */
    M3AE_GG_PROJECTIONS,  /* both projections and the modality type embeddings */
    M3AE_GG_TEXT_FFN,     /* [layer]; the top layer's includes the unused RoBERTa pooler */
    M3AE_GG_TEXT_ATTN,    /* [layer] */
    M3AE_GG_TEXT_EMB,     /* word / position / type embeddings and their LayerNorm */
    M3AE_GG_LN_POST,
    M3AE_GG_VISION_BLOCK, /* [layer] */
    M3AE_GG_VISION_EMB,   /* class and positional embedding, conv1, ln_pre */
    M3AE_GG_VQA_HEAD,     /* the whole VQA head (no group when cfg.vqa_labels == 0) */
    M3AE_GG_CLS_HEAD,     /* the whole classification head (no group when cfg.cls_labels == 0) */
    M3AE_GG_IRTR_HEAD,    /* the retrieval head (no group when cfg.irtr_head == 0) */
    M3AE_GG_KINDS
} m3ae_grad_group_kind;

typedef struct {
    int first, n;      /* registry range */
    unsigned touch;    /* bit p: the backward of pass p (m3ae_pass) writes this group's gradients */
} m3ae_grad_group;

typedef struct {
    m3ae_grad_group *g;
    int n;
    int base[M3AE_GG_KINDS], layers[M3AE_GG_KINDS]; /* group index = base + stream * layers + layer */
    m3ae_grad_hook fn;
    void *ctx;
    /* the step in progress (m3ae_model_step): pass index in its list, or -1 outside a step */
    int pidx, pass, last_micro;
    int *last_pass; /* (n) index in the step's pass list of the last pass that writes the group; -1 none */
    int *reports;   /* (n) reports in this step (the model's own check: exactly one each) */
} m3ae_grad_groups;

void m3ae_grad_groups_build(m3ae_grad_groups *gg, const m3ae_config *cfg, const m3ae_registry *reg);
void m3ae_grad_groups_free(m3ae_grad_groups *gg);
/* Step start / end (m3ae_model_step): the last writer of each group in this pass list; groups no pass
 * writes are reported at the start (their gradient is final: zero or untouched). The end checks that
 * every group was reported exactly once (on the last micro-batch). */
void m3ae_grad_groups_begin(m3ae_model *m, const m3ae_pass *passes, int n, int last_micro);
void m3ae_grad_groups_end(m3ae_model *m);
/* The backward of the current pass has written its last contribution to group (kind, stream, layer)
 * for this pass: a report if this is the group's last pass of the last micro-batch. */
void m3ae_grad_final(m3ae_model *m, m3ae_grad_group_kind kind, int stream, int layer);

struct m3ae_model {
    m3ae_config cfg;
    m3ae_backend *be;       /* borrowed: the caller closes it after m3ae_model_destroy */
    m3ae_registry reg;
    int max_batch;
    float *params, *grads;  /* arenas (backend) */
    void *act_block;        /* one activation block (backend) */
    size_t act_bytes;
    m3ae_weights w, g;
    m3ae_acts a;
    /* staging: the backend area, its host mirror (index region only), what it holds */
    void *stage_block;      /* backend */
    size_t stage_bytes, stage_index_off, stage_index_bytes;
    m3ae_staged st, hst;    /* backend pointers; host mirror pointers (img/itm_img NULL) */
    void *hstage_block;
    m3ae_stage_info si;
    unsigned char *h_seen;  /* (N) permutation check */
    size_t workspace_bytes; /* the backend workspace this model's plan reserved */
    int mlm_rows;           /* rows of the MLM head in the last MLM forward */
    int mlm_all_positions;  /* 1: the MLM head runs on every position (mlm_logits output) */
    /* state */
    int train;
    uint64_t seed;
    int cur_pass, cur_B, cur_T; /* last forward: pass, batch, image tokens */
    double denom[M3AE_PASS_KINDS]; /* loss denominators of the last forward of each pass */
    /* VQA loss on the host (B x n floats each way per step): labels, logits, logit gradients */
    int32_t *h_vqa_labels;
    float *h_vqa_logits, *h_vqa_dlogits;
    /* IRTR loss on the host (cfg.irtr_head): the pair scores and their gradients, (max_batch) each */
    float *h_irtr_scores, *h_irtr_dscores;
    m3ae_losses last;
    m3ae_grad_groups gg; /* gradient-ready groups and the registered hook */
    m3ae_pass_hook pass_fn; /* timelines (m3ae_model_set_pass_hook) */
    void *pass_ctx;
};

/* Dropout sites: where a mask is drawn. The numeric values are part of the dropout counter (changing
 * them changes every mask, and the fixtures and gradchecks would no longer match). */
typedef enum {
    M3AE_DROP_TEXT_ENCODER = 0, /* RoBERTa */
    M3AE_DROP_FUSION_TEXT = 1,  /* fusion layer of the language stream */
    M3AE_DROP_FUSION_IMAGE = 2  /* fusion layer of the vision stream */
} m3ae_drop_stream;

typedef enum {
    M3AE_DROP_EMBEDDINGS = 0,
    M3AE_DROP_SELF_PROBS = 1,
    M3AE_DROP_SELF_OUTPUT = 2,
    M3AE_DROP_CROSS_PROBS = 3,
    M3AE_DROP_CROSS_OUTPUT = 4,
    M3AE_DROP_FFN_OUTPUT = 5
} m3ae_drop_place;

/* Dropout site id: unique per (pass, stream, layer, place). */
static inline uint32_t m3ae_dropout_site(int pass, m3ae_drop_stream stream, int layer, m3ae_drop_place place) {
    return (uint32_t)(((pass * 4 + (int)stream) * 256 + layer) * 8 + (int)place);
}

#endif
