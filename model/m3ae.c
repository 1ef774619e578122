/* The M3AE model object: binding the registry's tensors to layer structs (the module tensor
 * functions of model/backbone.c and model/heads/ in BIND mode), the one-time memory
 * plan (parameters, gradients, activations, backend workspace, staging area), outputs and the
 * memory report. The passes are in model/m3ae_pass.c, the initialisation in model/init.c. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/error.h"
#include "common/rng.h"
#include "model/backbone.h"
#include "model/m3ae_internal.h"

/* ---- binding: the module tensor functions in BIND mode ---- */

static void *xcalloc(size_t n, size_t size, const char *what) {
    void *p = calloc(n ? n : 1, size);
    M3AE_CHECK(p, M3AE_EXIT_SYSTEM, "out of memory allocating %s", what);
    return p;
}

/* The whole model in registry order: the backbone, then the heads. A new head adds its call here
 * (after the others, so no earlier tensor moves). */
void m3ae_model_tensors(m3ae_tensor_builder *b, const m3ae_config *c, m3ae_weights *w) {
    m3ae_backbone_tensors(b, c, w);
    m3ae_mlm_head_tensors(b, c, w ? &w->mlm : NULL);
    m3ae_mim_head_tensors(b, c, w ? &w->mim : NULL);
    m3ae_itm_head_tensors(b, c, w ? &w->itm : NULL);
    m3ae_vqa_head_tensors(b, c, w ? &w->vqa : NULL);
    m3ae_cls_head_tensors(b, c, w ? &w->cls_head : NULL);
    m3ae_irtr_head_tensors(b, c, w ? &w->irtr : NULL);
}

/* The per-layer arrays of the bindings, then every slot from the registry's layout over arena. */
static void bind_weights(m3ae_weights *w, const m3ae_config *c, const m3ae_registry *r, float *arena) {
    memset(w, 0, sizeof *w);
    w->vblk = xcalloc((size_t)c->vision_layers, sizeof *w->vblk, "CLIP block bindings");
    w->tattn = xcalloc((size_t)c->text_layers, sizeof *w->tattn, "RoBERTa bindings");
    w->tffn = xcalloc((size_t)c->text_layers, sizeof *w->tffn, "RoBERTa bindings");
    for (int st = 0; st < 2; st++) {
        w->fself[st] = xcalloc((size_t)c->num_top_layer, sizeof *w->fself[st], "fusion bindings");
        w->fcross[st] = xcalloc((size_t)c->num_top_layer, sizeof *w->fcross[st], "fusion bindings");
        w->fffn[st] = xcalloc((size_t)c->num_top_layer, sizeof *w->fffn[st], "fusion bindings");
    }
    w->mim.blk = xcalloc((size_t)c->mim_decoder_num_layers, sizeof *w->mim.blk, "MIM decoder bindings");
    m3ae_tensor_builder b;
    m3ae_builder_bind_begin(&b, r, arena);
    m3ae_model_tensors(&b, c, w);
    m3ae_builder_bind_end(&b);
}

static void free_weights(m3ae_weights *w) {
    free(w->vblk);
    free(w->tattn);
    free(w->tffn);
    for (int s = 0; s < 2; s++) {
        free(w->fself[s]);
        free(w->fcross[s]);
        free(w->fffn[s]);
    }
    free(w->mim.blk);
}

/* ---- the activation plan: one pass sizes the block (base NULL), the second carves it ---- */

typedef struct {
    char *base;
    size_t off;
    size_t elem; /* bytes per element: m3ae_dtype_bytes of the plan's dtype */
} planner;

static void *take_bytes(planner *p, size_t bytes) {
    void *r = p->base ? (void *)(p->base + p->off) : NULL;
    p->off += m3ae_align_up(bytes ? bytes : 1);
    return r;
}

static float *take(planner *p, size_t nelem) { return take_bytes(p, nelem * p->elem); }

static void plan_clip(planner *p, m3ae_clip_acts *a, size_t n, int C, size_t probs) {
    a->ln1 = take(p, n * C);
    a->mean1 = take(p, n);
    a->rstd1 = take(p, n);
    a->qkv = take(p, n * 3 * C);
    a->probs = take(p, probs);
    a->attn = take(p, n * C);
    a->xmid = take(p, n * C);
    a->ln2 = take(p, n * C);
    a->mean2 = take(p, n);
    a->rstd2 = take(p, n);
    a->fc = take(p, n * 4 * C);
    a->act = take(p, n * 4 * C);
}

static void plan_attn(planner *p, m3ae_bert_attn_acts *a, size_t nq, size_t nk, int C, size_t probs) {
    a->q = take(p, nq * C);
    a->k = take(p, nk * C);
    a->v = take(p, nk * C);
    a->probs = take(p, probs);
    a->ctx = take(p, nq * C);
    a->sum = take(p, nq * C);
    a->mean = take(p, nq);
    a->rstd = take(p, nq);
    a->out = take(p, nq * C);
}

static void plan_ffn(planner *p, m3ae_bert_ffn_acts *a, size_t n, int C, int F) {
    a->inter = take(p, n * F);
    a->act = take(p, n * F);
    a->sum = take(p, n * C);
    a->mean = take(p, n);
    a->rstd = take(p, n);
    a->out = take(p, n * C);
}

/* A downstream classifier head's activations over B samples and n labels (none when n <= 0). */
static void plan_classifier(planner *p, m3ae_classifier_acts *a, size_t B, int H2, int n) {
    if (n <= 0) return;
    a->h = take(p, B * H2);
    a->ln = take(p, B * H2);
    a->g = take(p, B * H2);
    a->mean = take(p, B);
    a->rstd = take(p, B);
    a->logits = take(p, B * n);
    a->dlogits = take(p, B * n);
}

static int imax(int a, int b) { return a > b ? a : b; }

static void plan_acts(planner *p, m3ae_acts *a, const m3ae_config *c, size_t B) {
    const int N = m3ae_cfg_patches(c), PD = m3ae_cfg_patch_dim(c), keep = m3ae_cfg_mim_keep(c);
    const int Dv = c->vision_width, Dt = c->text_width, H = c->hidden_size, Dd = c->mim_decoder_hidden_size;
    const int L = c->max_text_len, V = c->vocab_size, F = m3ae_cfg_fusion_ffn(c);
    const size_t T = (size_t)N + 1, nL = B * L, nT = B * T;
    const int Tmax = imax(L, N + 1);
    const int Cmax = imax(imax(Dv, Dt), imax(H, Dd));
    const int Fmax = imax(imax(4 * Dv, c->text_ffn), imax(F, 4 * Dd));
    const int Hmax = imax(imax(c->vision_heads, c->text_heads), imax(c->num_heads, c->mim_decoder_num_heads));
    /* vision */
    a->patches = take(p, B * N * PD);
    a->tokens = take(p, nT * Dv);
    a->vis_in = take(p, nT * Dv);
    a->ln_pre_mean = take(p, nT);
    a->ln_pre_rstd = take(p, nT);
    for (int i = 0; i <= c->vision_layers; i++) a->vis_x[i] = take(p, nT * Dv);
    for (int i = 0; i < c->vision_layers; i++) plan_clip(p, &a->vblk[i], nT, Dv, B * c->vision_heads * T * T);
    a->vis_out = take(p, nT * Dv);
    a->ln_post_mean = take(p, nT);
    a->ln_post_rstd = take(p, nT);
    /* text */
    a->text_mask = take(p, nL);
    a->emb_sum = take(p, nL * Dt);
    a->emb_mean = take(p, nL);
    a->emb_rstd = take(p, nL);
    a->emb_out = take(p, nL * Dt);
    for (int i = 0; i < c->text_layers; i++) {
        plan_attn(p, &a->tattn[i], nL, nL, Dt, B * c->text_heads * L * L);
        plan_ffn(p, &a->tffn[i], nL, Dt, c->text_ffn);
    }
    /* fusion */
    a->S0[0] = take(p, nL * H);
    a->S0[1] = take(p, nT * H);
    for (int i = 0; i < c->num_top_layer; i++) {
        size_t nh = (size_t)c->num_heads;
        plan_attn(p, &a->fself[0][i], nL, nL, H, B * nh * L * L);
        plan_attn(p, &a->fcross[0][i], nL, nT, H, B * nh * L * T);
        plan_ffn(p, &a->fffn[0][i], nL, H, F);
        plan_attn(p, &a->fself[1][i], nT, nT, H, B * nh * T * T);
        plan_attn(p, &a->fcross[1][i], nT, nL, H, B * nh * T * L);
        plan_ffn(p, &a->fffn[1][i], nT, H, F);
    }
    for (int s = 0; s < 2; s++) {
        a->pool_in[s] = take(p, B * H);
        a->pool_pre[s] = take(p, B * H);
        a->pool_out[s] = take(p, B * H);
    }
    a->cls = take(p, B * 2 * H);
    /* MLM head */
    a->mlm_x = take(p, nL * H);
    a->mlm_h = take(p, nL * H);
    a->mlm_g = take(p, nL * H);
    a->mlm_ln = take(p, nL * H);
    a->mlm_mean = take(p, nL);
    a->mlm_rstd = take(p, nL);
    a->mlm_logits = take(p, nL * V);
    a->mlm_dlogits = take(p, nL * V);
    /* MIM head */
    a->mim_ext = take(p, B * (keep + 2) * Dd);
    for (int i = 0; i <= c->mim_decoder_num_layers; i++) a->dec_x[i] = take(p, nT * Dd);
    for (int i = 0; i < c->mim_decoder_num_layers; i++)
        plan_clip(p, &a->dblk[i], nT, Dd, B * c->mim_decoder_num_heads * T * T);
    a->dec_norm = take(p, nT * Dd);
    a->dec_mean = take(p, nT);
    a->dec_rstd = take(p, nT);
    a->mim_pred = take(p, B * N * PD);
    a->mim_target = take(p, B * N * PD);
    a->mim_dpred = take(p, B * N * PD);
    /* ITM head */
    a->itm_logits = take(p, B * 2);
    a->itm_dlogits = take(p, B * 2);
    /* downstream heads */
    plan_classifier(p, &a->vqa, B, 2 * H, c->vqa_labels);
    plan_classifier(p, &a->cls_head, B, 2 * H, c->cls_labels);
    /* backward */
    const size_t big = B * Tmax * Cmax;
    a->s.t1 = take(p, big);
    a->s.t2 = take(p, big);
    a->s.dq = take(p, big);
    a->s.dk = take(p, big);
    a->s.dv = take(p, big);
    a->s.dff = take(p, B * Tmax * imax(Fmax, 3 * Cmax));
    a->s.att = take(p, B * Hmax * (size_t)Tmax * Tmax);
    a->u1 = take(p, big);
    a->u2 = take(p, big);
    for (int k = 0; k < 2; k++)
        for (int s = 0; s < 2; s++) a->dS[k][s] = take(p, B * Tmax * H);
    a->d_text = take(p, nL * Dt);
    a->d_text2 = take(p, nL * Dt);
    a->d_vis = take(p, nT * Dv);
    a->d_vis2 = take(p, nT * Dv);
    a->d_tokens = take(p, nT * Dv);
    a->d_cls = take(p, B * 2 * H);
    a->d_dec = take(p, nT * Dd);
    a->d_dec2 = take(p, nT * Dd);
    a->d_ext = take(p, B * (keep + 2) * Dd);
    a->d_inj = take(p, B * (keep + 1) * H);
}

/* The staging area: the two image batches, then the index region (one contiguous upload). */
static void plan_stage(planner *p, m3ae_staged *st, const m3ae_config *c, size_t B, int with_images,
                       size_t *index_off) {
    const size_t L = (size_t)c->max_text_len, N = (size_t)m3ae_cfg_patches(c), keep = (size_t)m3ae_cfg_mim_keep(c);
    const size_t Tmax = L > N + 1 ? L : N + 1, npix = B * 3 * (size_t)c->image_size * c->image_size;
    st->img = with_images ? take_bytes(p, npix * sizeof(float)) : NULL;
    st->itm_img = with_images ? take_bytes(p, npix * sizeof(float)) : NULL;
    *index_off = p->off;
    st->zeros = take_bytes(p, B * Tmax * sizeof(int32_t));
    st->ones = take_bytes(p, B * Tmax * sizeof(int32_t));
    for (int k = 0; k < 2; k++) {
        st->ids[k] = take_bytes(p, B * L * sizeof(int32_t));
        st->pos[k] = take_bytes(p, B * L * sizeof(int32_t));
        st->mlm_rows[k] = take_bytes(p, B * L * sizeof(int32_t));
        st->mlm_labels[k] = take_bytes(p, B * L * sizeof(int32_t));
    }
    st->text_mask = take_bytes(p, B * L * sizeof(float));
    st->keep_idx = take_bytes(p, B * (keep + 1) * sizeof(int32_t));
    st->unshuf = take_bytes(p, B * (N + 1) * sizeof(int32_t));
    st->mim_mask = take_bytes(p, B * N * sizeof(float));
    st->itm_labels = take_bytes(p, B * sizeof(int32_t));
    st->cls_labels = take_bytes(p, B * sizeof(int32_t));
    st->sample_ids = take_bytes(p, B * sizeof(int64_t));
    st->end = p->base ? p->base + p->off : NULL;
}

/* The workspace of the largest call of each entry that needs one (entries run one at a time on the
 * backend's stream, so the largest of them is the workspace). Shapes are upper bounds of every call
 * in model/m3ae_pass.c and the layers: rows <= B * max(L, N+1), widths <= Cmax, Tq, Tk <= max(L, N+1). */
static size_t plan_workspace(const m3ae_backend *be, const m3ae_config *c, int64_t B) {
    const int64_t L = c->max_text_len, N = m3ae_cfg_patches(c), Tmax = L > N + 1 ? L : N + 1;
    const int64_t Cmax = imax(imax(c->vision_width, c->text_width), imax(c->hidden_size, c->mim_decoder_hidden_size));
    const int64_t Hmax = imax(imax(c->vision_heads, c->text_heads), imax(c->num_heads, c->mim_decoder_num_heads));
    const int64_t drop = c->drop_rate > 0;
    const int64_t shapes[M3AE_WS_KINDS][5] = {
        [M3AE_WS_ATTENTION_FORWARD] = {B, Hmax, Tmax, Tmax, drop},
        [M3AE_WS_ATTENTION_BACKWARD] = {B, Hmax, Tmax, Tmax, drop},
        [M3AE_WS_LAYERNORM_BACKWARD] = {B * Tmax, Cmax},
        [M3AE_WS_CROSS_ENTROPY] = {B * L},
        [M3AE_WS_MIM_LOSS] = {B * N},
    };
    size_t ws = 0;
    for (int k = 0; k < M3AE_WS_KINDS; k++) {
        size_t b = be->ops->workspace_bytes(be, (m3ae_ws_kind)k, shapes[k]);
        if (b > ws) ws = b;
    }
    return ws;
}

m3ae_model *m3ae_model_create(const m3ae_config *cfg, m3ae_backend *be, int max_batch) {
    m3ae_error err;
    M3AE_CHECK(m3ae_config_validate(cfg, &err) == 0, M3AE_EXIT_USAGE, "%s", err.msg);
    M3AE_CHECK(max_batch >= 1, M3AE_EXIT_USAGE, "model batch size %d must be >= 1", max_batch);
    m3ae_model *m = xcalloc(1, sizeof *m, "the model");
    M3AE_CHECK(be != NULL, M3AE_EXIT_USAGE, "model creation without a backend (open one with m3ae_backend_open)");
    m->cfg = *cfg;
    m->be = be;
    m->max_batch = max_batch;
    m3ae_registry_build(&m->reg, cfg);
    m->params = be->ops->alloc(be, m->reg.arena_floats * sizeof(float), "parameters");
    m->grads = be->ops->alloc(be, m->reg.arena_floats * sizeof(float), "gradients");
    bind_weights(&m->w, cfg, &m->reg, m->params);
    bind_weights(&m->g, cfg, &m->reg, m->grads);

    m3ae_acts *a = &m->a;
    a->vis_x = xcalloc((size_t)cfg->vision_layers + 1, sizeof *a->vis_x, "activation plan");
    a->vblk = xcalloc((size_t)cfg->vision_layers, sizeof *a->vblk, "activation plan");
    a->tattn = xcalloc((size_t)cfg->text_layers, sizeof *a->tattn, "activation plan");
    a->tffn = xcalloc((size_t)cfg->text_layers, sizeof *a->tffn, "activation plan");
    for (int s = 0; s < 2; s++) {
        a->fself[s] = xcalloc((size_t)cfg->num_top_layer, sizeof *a->fself[s], "activation plan");
        a->fcross[s] = xcalloc((size_t)cfg->num_top_layer, sizeof *a->fcross[s], "activation plan");
        a->fffn[s] = xcalloc((size_t)cfg->num_top_layer, sizeof *a->fffn[s], "activation plan");
    }
    a->dec_x = xcalloc((size_t)cfg->mim_decoder_num_layers + 1, sizeof *a->dec_x, "activation plan");
    a->dblk = xcalloc((size_t)cfg->mim_decoder_num_layers, sizeof *a->dblk, "activation plan");
    /* activations, in the backend's activation dtype */
    a->dtype = be->act_dtype;
    planner p = {NULL, 0, m3ae_dtype_bytes(a->dtype)};
    plan_acts(&p, a, cfg, (size_t)max_batch);
    m->act_bytes = p.off;
    m->act_block = be->ops->alloc(be, m->act_bytes, "activations");
    p.base = m->act_block;
    p.off = 0;
    plan_acts(&p, a, cfg, (size_t)max_batch);

    /* staging area (backend) and the host mirror of its index region */
    planner sp = {NULL, 0, 1};
    plan_stage(&sp, &m->st, cfg, (size_t)max_batch, 1, &m->stage_index_off);
    m->stage_bytes = sp.off;
    m->stage_index_bytes = sp.off - m->stage_index_off;
    m->stage_block = be->ops->alloc(be, m->stage_bytes, "batch staging area");
    sp.base = m->stage_block;
    sp.off = 0;
    plan_stage(&sp, &m->st, cfg, (size_t)max_batch, 1, &m->stage_index_off);
    m->hstage_block = xcalloc(m->stage_index_bytes, 1, "host staging mirror");
    sp.base = m->hstage_block; /* the index region alone: the same offsets relative to its start */
    sp.off = 0;
    size_t host_index_off;
    plan_stage(&sp, &m->hst, cfg, (size_t)max_batch, 0, &host_index_off); /* images come from the batch itself */
    const int L = cfg->max_text_len, N = m3ae_cfg_patches(cfg);
    const size_t Tmax = (size_t)imax(L, N + 1);
    for (size_t i = 0; i < (size_t)max_batch * Tmax; i++) m->hst.ones[i] = 1; /* zeros stay zero */
    m->h_seen = xcalloc((size_t)N, 1, "host permutation check");
    if (cfg->vqa_labels > 0) {
        const size_t nl = (size_t)max_batch * cfg->vqa_labels;
        m->h_vqa_labels = xcalloc((size_t)max_batch, sizeof *m->h_vqa_labels, "host VQA labels");
        m->h_vqa_logits = xcalloc(nl, sizeof *m->h_vqa_logits, "host VQA logits");
        m->h_vqa_dlogits = xcalloc(nl, sizeof *m->h_vqa_dlogits, "host VQA logit gradients");
    }
    if (cfg->irtr_head > 0) {
        m->h_irtr_scores = xcalloc((size_t)max_batch, sizeof(float), "host IRTR scores");
        m->h_irtr_dscores = xcalloc((size_t)max_batch, sizeof(float), "host IRTR score gradients");
    }

    /* the backend workspace of the largest call of each entry */
    m->workspace_bytes = plan_workspace(be, cfg, max_batch);
    m3ae_backend_reserve_workspace(be, m->workspace_bytes);
    m3ae_grad_groups_build(&m->gg, cfg, &m->reg);
    m->cur_pass = -1;
    return m;
}

void m3ae_model_destroy(m3ae_model *m) {
    if (!m) return;
    m->be->ops->free(m->be, m->params);
    m->be->ops->free(m->be, m->grads);
    m->be->ops->free(m->be, m->act_block);
    m->be->ops->free(m->be, m->stage_block);
    free_weights(&m->w);
    free_weights(&m->g);
    m3ae_acts *a = &m->a;
    free(a->vis_x);
    free(a->vblk);
    free(a->tattn);
    free(a->tffn);
    for (int s = 0; s < 2; s++) {
        free(a->fself[s]);
        free(a->fcross[s]);
        free(a->fffn[s]);
    }
    free(a->dec_x);
    free(a->dblk);
    free(m->hstage_block);
    free(m->h_seen);
    free(m->h_vqa_labels);
    free(m->h_vqa_logits);
    free(m->h_vqa_dlogits);
    free(m->h_irtr_scores);
    free(m->h_irtr_dscores);
    m3ae_grad_groups_free(&m->gg);
    m3ae_registry_free(&m->reg);
    free(m);
}

const m3ae_registry *m3ae_model_registry(const m3ae_model *m) { return &m->reg; }
const m3ae_config *m3ae_model_config(const m3ae_model *m) { return &m->cfg; }
m3ae_backend *m3ae_model_backend(const m3ae_model *m) { return m->be; }
float *m3ae_model_params(m3ae_model *m) { return m->params; }
float *m3ae_model_grads(m3ae_model *m) { return m->grads; }

void m3ae_model_zero_grads(m3ae_model *m) { m->be->ops->zero(m->be, m->grads, m->reg.arena_floats); }

void m3ae_model_set_train(m3ae_model *m, int train, uint64_t seed) {
    m->train = train;
    m->seed = seed;
}

/* ---- outputs and memory ---- */

void m3ae_model_set_mlm_all_positions(m3ae_model *m, int all) { m->mlm_all_positions = all != 0; }

const float *m3ae_model_output(const m3ae_model *m, const char *name, size_t *numel) {
    const m3ae_config *c = &m->cfg;
    const m3ae_acts *a = &m->a;
    const size_t B = (size_t)m->cur_B, L = (size_t)c->max_text_len, T = (size_t)m->cur_T;
    const size_t H = (size_t)c->hidden_size, N = (size_t)m3ae_cfg_patches(c), PD = (size_t)m3ae_cfg_patch_dim(c);
    int i;
    if (m->cur_pass < 0) return NULL;
    if (!strcmp(name, "vision_embeds")) return *numel = B * T * c->vision_width, a->vis_out;
    if (!strcmp(name, "text_embeds")) return *numel = B * L * c->text_width, a->tffn[c->text_layers - 1].out;
    if (sscanf(name, "fusion_text_%d", &i) == 1 && i >= 0 && i < c->num_top_layer)
        return *numel = B * L * H, a->fffn[0][i].out;
    if (sscanf(name, "fusion_image_%d", &i) == 1 && i >= 0 && i < c->num_top_layer)
        return *numel = B * T * H, a->fffn[1][i].out;
    if (!strcmp(name, "cls_feats")) return *numel = B * 2 * H, a->cls;
    const int mlm = m->cur_pass == M3AE_PASS_MLM || m->cur_pass == M3AE_PASS_JOINT;
    const int mim = m->cur_pass == M3AE_PASS_MIM || m->cur_pass == M3AE_PASS_JOINT;
    if (mlm && !strcmp(name, "mlm_logits"))
        return m->mlm_all_positions ? (*numel = (size_t)B * L * c->vocab_size, a->mlm_logits) : NULL;
    if (mim) {
        if (!strcmp(name, "mim_pred")) return *numel = B * N * PD, a->mim_pred;
        if (!strcmp(name, "mim_target")) return *numel = B * N * PD, a->mim_target;
        if (!strcmp(name, "mim_mask")) return *numel = B * N, m->st.mim_mask;
    }
    if (m->cur_pass == M3AE_PASS_ITM && !strcmp(name, "itm_logits")) return *numel = B * 2, a->itm_logits;
    if (m->cur_pass == M3AE_PASS_IRTR && !strcmp(name, "irtr_logits")) return *numel = B, a->itm_logits; /* (B,1) */
    if (m->cur_pass == M3AE_PASS_VQA && !strcmp(name, "vqa_logits"))
        return *numel = B * (size_t)c->vqa_labels, a->vqa.logits;
    if (m->cur_pass == M3AE_PASS_CLS && !strcmp(name, "cls_logits"))
        return *numel = B * (size_t)c->cls_labels, a->cls_head.logits;
    return NULL;
}

size_t m3ae_model_memory_bytes(const m3ae_model *m) {
    return 2 * m->reg.arena_floats * sizeof(float) + m->act_bytes + m->workspace_bytes + m->stage_bytes;
}

void m3ae_model_memory_report(const m3ae_model *m, FILE *f) {
    const double MiB = 1024.0 * 1024.0;
    fprintf(f, "memory plan (%s backend, micro-batch %d, allocated once):\n", m->be->name, m->max_batch);
    fprintf(f, "  parameters   %10.1f MiB  (%d tensors, %zu floats)\n", m->reg.arena_floats * 4.0 / MiB, m->reg.n,
            m->reg.arena_floats);
    fprintf(f, "  gradients    %10.1f MiB\n", m->reg.arena_floats * 4.0 / MiB);
    fprintf(f, "  activations  %10.1f MiB  (one pass, saved for backward, + backward buffers)\n",
            m->act_bytes / MiB);
    fprintf(f, "  activation dtype %s\n", m3ae_dtype_name(m->a.dtype));
    fprintf(f, "  workspace    %10.1f MiB  (backend scratch of the largest call: dropout masks, norm sums, loss rows)\n",
            m->workspace_bytes / MiB);
    fprintf(f, "  staging      %10.1f MiB  (one micro-batch: images, ITM images, %.1f KiB of index arrays)\n",
            m->stage_bytes / MiB, m->stage_index_bytes / 1024.0);
    fprintf(f, "  total        %10.1f MiB\n", m3ae_model_memory_bytes(m) / MiB);
}
