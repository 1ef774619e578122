/* The three pretraining passes of M3AE (spec 2.1), forward and backward:
 *   MLM: masked text + full image -> MLM head on the last fusion text output
 *   MIM: full text + kept patches  -> MIM decoder on the image stream entering fusion layer mim_layer
 *   ITM: full text + ITM image     -> ITM head on the pooled [text CLS, image CLS]
 *   VQA: question + full image     -> VQA head on the pooled [text CLS, image CLS] (fine-tuning)
 *   CLS: caption + full image      -> classification head on the pooled features (fine-tuning)
 * Shapes: B batch, L text length, T image tokens (N+1, or keep+1 in the MIM pass), widths Dv (CLIP),
 * Dt (RoBERTa), H (fusion), Dd (MIM decoder), PD = 3 P^2 patch vector. */
#include <math.h>
#include <string.h>

#include "common/error.h"
#include "common/facts.h"
#include "model/m3ae_internal.h"
#include "model/tasks/passes.h"

#define ROBERTA_LN_EPS 1e-5f
#define FUSION_LN_EPS 1e-12f
#define CLIP_LN_EPS 1e-5f

static const m3ae_dropout *mkdrop(const m3ae_model *m, m3ae_dropout *d, const m3ae_batch *b, int pass,
                                  m3ae_drop_stream stream, int layer, m3ae_drop_place place) {
    if (!m->train || m->cfg.drop_rate <= 0) return NULL;
    d->p = (float)m->cfg.drop_rate;
    d->seed = m->seed;
    d->step = b->step;
    d->site = m3ae_dropout_site(pass, stream, layer, place);
    d->sample_ids = m->st.sample_ids;
    return d;
}

/* The fusion stream s at level i (0 = projected input, i = output of fusion layer i-1). */
static float *stream_at(const m3ae_model *m, int s, int i) {
    return i == 0 ? m->a.S0[s] : m->a.fffn[s][i - 1].out;
}

/* ---- staging: checks, host index preparation, one upload ---- */

/* RoBERTa positions cumsum(ids != pad) * (ids != pad) + pad of one id array (B,L) */
static void roberta_positions(int32_t *pos, const int32_t *ids, int B, int L) {
    for (int s = 0; s < B; s++) {
        int cum = 0;
        for (int t = 0; t < L; t++) {
            int i = s * L + t, nonpad = ids[i] != M3AE_TOKEN_PAD;
            cum += nonpad;
            pos[i] = nonpad ? cum + M3AE_TOKEN_PAD : M3AE_TOKEN_PAD;
        }
    }
}

static void check_ids(const int32_t *ids, int n, int L, int V, const char *what) {
    for (int i = 0; i < n; i++)
        M3AE_CHECK(ids[i] >= 0 && ids[i] < V, M3AE_EXIT_DATA, "token id %d at sample %d position %d of %s is outside [0, %d)",
                   ids[i], i / L, i % L, what, V);
}

void m3ae_model_stage(m3ae_model *m, const m3ae_batch *b) {
    m3ae_backend *be = m->be;
    const m3ae_config *c = &m->cfg;
    const int L = c->max_text_len, N = m3ae_cfg_patches(c), V = c->vocab_size, keep = m3ae_cfg_mim_keep(c);
    const int B = b->B, S = c->image_size;
    m3ae_staged *h = &m->hst;
    m3ae_stage_info *si = &m->si;
    M3AE_CHECK(B >= 1 && B <= m->max_batch, M3AE_EXIT_USAGE,
               "batch of %d samples, but the model's memory was planned for at most %d", B, m->max_batch);
    M3AE_CHECK(b->text_masks, M3AE_EXIT_USAGE, "batch lacks text_masks");
    memset(si, 0, sizeof *si);
    si->B = B;
    /* text: ids and positions of the unmasked [0] and masked [1] text, the additive key mask */
    const int32_t *ids[2] = {b->text_ids, b->mlm_ids};
    static const char *id_names[2] = {"text_ids", "mlm_ids"};
    for (int k = 0; k < 2; k++) {
        if (!ids[k]) continue;
        check_ids(ids[k], B * L, L, V, id_names[k]);
        memcpy(h->ids[k], ids[k], (size_t)B * L * sizeof(int32_t));
        roberta_positions(h->pos[k], ids[k], B, L);
    }
    for (int i = 0; i < B * L; i++) h->text_mask[i] = b->text_masks[i] ? 0.0f : -10000.0f;
    si->has_text = b->text_ids != NULL;
    /* MLM: the rows the head computes (predicted only [0], every position [1]) and their labels */
    if (b->mlm_ids && b->mlm_labels) {
        int n = 0;
        for (int i = 0; i < B * L; i++) {
            const int32_t y = b->mlm_labels[i];
            M3AE_CHECK(y == M3AE_IGNORE_INDEX || (y >= 0 && y < V), M3AE_EXIT_DATA,
                       "MLM label %d at sample %d position %d is neither %d nor in [0, %d)", y, i / L, i % L,
                       M3AE_IGNORE_INDEX, V);
            if (y != M3AE_IGNORE_INDEX) h->mlm_rows[0][n] = i, h->mlm_labels[0][n++] = y;
            h->mlm_rows[1][i] = i, h->mlm_labels[1][i] = y;
        }
        si->mlm_rows[0] = si->mlm_local = n;
        si->mlm_rows[1] = B * L;
        si->has_mlm = 1;
    }
    /* MIM: keep CLS + the first `keep` patches of ids_shuffle, in that order; the un-shuffle of the
     * decoder (CLS, then patch j <- its kept token, or the mask token at index keep + 1) and the mask */
    if (b->mim_ids_shuffle) {
        const int T = N + 1, Tk = keep + 1;
        for (int s = 0; s < B; s++) {
            const int32_t *sh = b->mim_ids_shuffle + (size_t)s * N;
            memset(m->h_seen, 0, (size_t)N);
            for (int j = 0; j < N; j++) {
                int v = sh[j];
                M3AE_CHECK(v >= 0 && v < N && !m->h_seen[v], M3AE_EXIT_DATA,
                           "mim_ids_shuffle of sample %d is not a permutation of 0..%d (entry %d = %d)", s, N - 1, j, v);
                m->h_seen[v] = 1;
            }
            h->keep_idx[s * Tk] = 0;
            for (int j = 0; j < keep; j++) h->keep_idx[s * Tk + 1 + j] = 1 + sh[j];
            int32_t *u = h->unshuf + (size_t)s * T;
            float *mask = h->mim_mask + (size_t)s * N;
            u[0] = 0;
            for (int j = 0; j < N; j++) mask[j] = 1.0f;
            for (int r = 0; r < N; r++) {
                int j = sh[r];
                u[1 + j] = r < keep ? 1 + r : Tk;
                if (r < keep) mask[j] = 0.0f;
            }
        }
        si->has_mim = 1;
    }
    if (b->itm_labels) {
        for (int s = 0; s < B; s++) {
            M3AE_CHECK(b->itm_labels[s] == 0 || b->itm_labels[s] == 1, M3AE_EXIT_DATA,
                       "ITM label %d of sample %d is not 0 or 1", b->itm_labels[s], s);
            h->itm_labels[s] = b->itm_labels[s];
        }
        si->has_itm = 1;
    }
    if (b->vqa_labels && c->vqa_labels > 0) { /* host only: the VQA loss is computed on the host */
        for (int s = 0; s < B; s++) {
            M3AE_CHECK(b->vqa_labels[s] >= -1 && b->vqa_labels[s] < c->vqa_labels, M3AE_EXIT_DATA,
                       "VQA label %d of sample %d is neither -1 (unseen answer) nor in [0, %d)", b->vqa_labels[s], s,
                       c->vqa_labels);
            m->h_vqa_labels[s] = b->vqa_labels[s];
        }
        si->has_vqa = 1;
    }
    if (b->cls_labels && c->cls_labels > 0) { /* staged: the cross-entropy runs on the backend */
        for (int s = 0; s < B; s++) {
            const int32_t y = b->cls_labels[s];
            M3AE_CHECK(y >= -1 && y < c->cls_labels, M3AE_EXIT_DATA,
                       "class label %d of sample %d is neither -1 (unseen class) nor in [0, %d)", y, s, c->cls_labels);
            h->cls_labels[s] = y < 0 ? M3AE_IGNORE_INDEX : y;
        }
        si->has_cls = 1;
    }
    for (int s = 0; s < B; s++) h->sample_ids[s] = b->sample_ids ? b->sample_ids[s] : s;
    /* the uploads: the index region in one copy, then the images */
    be->ops->upload(be, (char *)m->stage_block + m->stage_index_off, m->hstage_block, m->stage_index_bytes);
    /* an IRTR batch holds one image per K pairs */
    const int K = b->irtr_candidates > 0 ? b->irtr_candidates : 1;
    M3AE_CHECK(B % K == 0, M3AE_EXIT_USAGE, "IRTR batch of %d pairs is not a multiple of its %d candidates", B, K);
    si->irtr_k = b->irtr_candidates > 0 ? K : 0;
    if (b->images) be->ops->upload(be, m->st.img, b->images, (size_t)(B / K) * 3 * S * S * sizeof(float));
    const size_t img_bytes = (size_t)B * 3 * S * S * sizeof(float);
    if (b->itm_images) be->ops->upload(be, m->st.itm_img, b->itm_images, img_bytes);
    si->has_images = b->images != NULL;
    si->has_itm_images = b->itm_images != NULL;
    be->ops->sync(be); /* the batch's host arrays and the mirror may be reused from here on */
    si->valid = 1;
}

/* The staged batch can feed this pass (the arrays it reads were staged, for this B). */
static void check_staged(const m3ae_model *m, m3ae_pass pass, const m3ae_batch *b) {
    const m3ae_stage_info *si = &m->si;
    M3AE_CHECK(si->valid, M3AE_EXIT_USAGE, "no micro-batch is staged: call m3ae_model_stage before the passes");
    M3AE_CHECK(b->B == si->B, M3AE_EXIT_USAGE, "pass on a batch of %d samples, but the staged batch has %d (stage it first)",
               b->B, si->B);
    const int masked_text = pass == M3AE_PASS_MLM || pass == M3AE_PASS_JOINT;
    const int masked_image = pass == M3AE_PASS_MIM || pass == M3AE_PASS_JOINT;
    M3AE_CHECK(masked_text ? si->has_mlm : si->has_text, M3AE_EXIT_USAGE, "batch lacks %s",
               masked_text ? "mlm_ids or mlm_labels" : "text_ids");
    M3AE_CHECK(pass == M3AE_PASS_ITM ? si->has_itm_images : si->has_images, M3AE_EXIT_USAGE, "batch lacks %s",
               pass == M3AE_PASS_ITM ? "itm_images" : "images");
    if (masked_image) M3AE_CHECK(si->has_mim, M3AE_EXIT_USAGE, "batch lacks mim_ids_shuffle");
    if (pass == M3AE_PASS_ITM) M3AE_CHECK(si->has_itm, M3AE_EXIT_USAGE, "batch lacks itm_labels");
    if (pass == M3AE_PASS_IRTR) {
        M3AE_CHECK(m->cfg.irtr_head > 0, M3AE_EXIT_USAGE,
                   "IRTR pass on a model without an irtr_head (set the model's irtr_head = 1)");
        M3AE_CHECK(si->irtr_k >= 2 && b->irtr_candidates == si->irtr_k, M3AE_EXIT_USAGE,
                   "IRTR pass needs a batch staged with irtr_candidates >= 2 (staged %d, given %d)", si->irtr_k,
                   b->irtr_candidates);
    }
    if (pass == M3AE_PASS_VQA) {
        M3AE_CHECK(m->cfg.vqa_labels > 0, M3AE_EXIT_USAGE,
                   "VQA pass on a model without a VQA head (set the model key vqa_labels to the answer count)");
        M3AE_CHECK(si->has_vqa, M3AE_EXIT_USAGE, "batch lacks vqa_labels");
    }
    if (pass == M3AE_PASS_CLS) {
        M3AE_CHECK(m->cfg.cls_labels > 0, M3AE_EXIT_USAGE,
                   "CLS pass on a model without a classification head (cls_labels = 0: fine-tune with --task cls)");
        M3AE_CHECK(si->has_cls, M3AE_EXIT_USAGE, "batch lacks cls_labels");
    }
}

/* ---- text encoder ---- */

/* Which staged text a pass reads: 1 the masked text (MLM, JOINT), 0 the unmasked text. */
static int text_kind(m3ae_pass pass) { return pass == M3AE_PASS_MLM || pass == M3AE_PASS_JOINT; }

static void text_forward(m3ae_model *m, m3ae_pass pass, const m3ae_batch *b) {
    m3ae_backend *be = m->be;
    const m3ae_config *c = &m->cfg;
    m3ae_acts *a = &m->a;
    const int B = b->B, L = c->max_text_len, Dt = c->text_width, n = B * L;
    const int k = text_kind(pass);
    /* embeddings: word + position + token_type(0), LayerNorm, dropout */
    be->ops->embedding_forward(be, a->emb_sum, m->st.ids[k], m->w.word, n, Dt); // (B,L,Dt)
    be->ops->embedding_forward(be, a->s.t1, m->st.pos[k], m->w.tpos, n, Dt);
    be->ops->add_inplace(be, a->emb_sum, a->s.t1, (size_t)n * Dt);
    be->ops->embedding_forward(be, a->s.t1, m->st.zeros, m->w.ttype, n, Dt);
    be->ops->add_inplace(be, a->emb_sum, a->s.t1, (size_t)n * Dt);
    be->ops->layernorm_forward(be, a->emb_out, a->emb_mean, a->emb_rstd, a->emb_sum, m->w.emb_ln_g, m->w.emb_ln_b, n, Dt,
                         ROBERTA_LN_EPS);
    m3ae_dropout d1, d2;
    const m3ae_dropout *de = mkdrop(m, &d1, b, pass, M3AE_DROP_TEXT_ENCODER, 0, M3AE_DROP_EMBEDDINGS);
    if (de) be->ops->dropout_forward(be, a->emb_out, a->emb_out, B, (size_t)L * Dt, de);
    const float *x = a->emb_out;
    for (int i = 0; i < c->text_layers; i++) {
        m3ae_bert_attn_forward(be, x, x, &m->w.tattn[i], &a->tattn[i], m->st.text_mask, B, L, L, Dt, c->text_heads,
                               ROBERTA_LN_EPS, mkdrop(m, &d1, b, pass, M3AE_DROP_TEXT_ENCODER, i, M3AE_DROP_SELF_PROBS),
                               mkdrop(m, &d2, b, pass, M3AE_DROP_TEXT_ENCODER, i, M3AE_DROP_SELF_OUTPUT));
        m3ae_bert_ffn_forward(be, a->tattn[i].out, &m->w.tffn[i], &a->tffn[i], B, L, Dt, c->text_ffn, ROBERTA_LN_EPS,
                              mkdrop(m, &d1, b, pass, M3AE_DROP_TEXT_ENCODER, i, M3AE_DROP_FFN_OUTPUT));
        x = a->tffn[i].out;
    }
}

/* d_text (B,L,Dt): gradient of the text encoder output (clobbered). */
static void text_backward(m3ae_model *m, m3ae_pass pass, const m3ae_batch *b) {
    m3ae_backend *be = m->be;
    const m3ae_config *c = &m->cfg;
    m3ae_acts *a = &m->a;
    const int B = b->B, L = c->max_text_len, Dt = c->text_width, n = B * L;
    m3ae_dropout d1, d2;
    float *dcur = a->d_text, *dnext = a->d_text2;
    for (int i = c->text_layers - 1; i >= 0; i--) {
        const float *x = i ? a->tffn[i - 1].out : a->emb_out;
        be->ops->zero(be, a->u1, (size_t)n * Dt);
        m3ae_bert_ffn_backward(be, dcur, a->u1, a->tattn[i].out, &m->w.tffn[i], &m->g.tffn[i], &a->tffn[i], &a->s, B,
                               L, Dt, c->text_ffn,
                               mkdrop(m, &d1, b, pass, M3AE_DROP_TEXT_ENCODER, i, M3AE_DROP_FFN_OUTPUT));
        m3ae_grad_final(m, M3AE_GG_TEXT_FFN, 0, i);
        be->ops->zero(be, dnext, (size_t)n * Dt);
        m3ae_bert_attn_backward(be, a->u1, dnext, dnext, x, x, &m->w.tattn[i], &m->g.tattn[i], &a->tattn[i], &a->s, B,
                                L, L, Dt, c->text_heads,
                                mkdrop(m, &d1, b, pass, M3AE_DROP_TEXT_ENCODER, i, M3AE_DROP_SELF_PROBS),
                                mkdrop(m, &d2, b, pass, M3AE_DROP_TEXT_ENCODER, i, M3AE_DROP_SELF_OUTPUT));
        m3ae_grad_final(m, M3AE_GG_TEXT_ATTN, 0, i);
        float *t = dcur;
        dcur = dnext;
        dnext = t;
    }
    const m3ae_dropout *de = mkdrop(m, &d1, b, pass, M3AE_DROP_TEXT_ENCODER, 0, M3AE_DROP_EMBEDDINGS);
    if (de) be->ops->dropout_backward(be, dcur, dcur, B, (size_t)L * Dt, de);
    be->ops->layernorm_backward(be, a->s.t1, m->g.emb_ln_g, m->g.emb_ln_b, dcur, a->emb_sum, a->emb_mean, a->emb_rstd,
                          m->w.emb_ln_g, n, Dt, 0);
    /* nn.Embedding(padding_idx=1) in RoBERTa: row <pad> of the word and position tables never
     * learns, also when an MLM random replacement put id 1 inside a caption (spec 8 item 10) */
    const int k = text_kind(pass);
    be->ops->embedding_backward(be, m->g.word, a->s.t1, m->st.ids[k], n, Dt, M3AE_TOKEN_PAD);
    be->ops->embedding_backward(be, m->g.tpos, a->s.t1, m->st.pos[k], n, Dt, M3AE_TOKEN_PAD);
    be->ops->embedding_backward(be, m->g.ttype, a->s.t1, m->st.zeros, n, Dt, -1);
    m3ae_grad_final(m, M3AE_GG_TEXT_EMB, 0, 0);
}

/* ---- vision encoder ---- */

static void vision_forward(m3ae_model *m, m3ae_pass pass, const m3ae_batch *b) {
    m3ae_backend *be = m->be;
    const m3ae_config *c = &m->cfg;
    m3ae_acts *a = &m->a;
    const int B = b->B, S = c->image_size, P = c->patch_size, N = m3ae_cfg_patches(c), PD = m3ae_cfg_patch_dim(c);
    const int Dv = c->vision_width, keep = m3ae_cfg_mim_keep(c);
    const float *img = pass == M3AE_PASS_ITM ? m->st.itm_img : m->st.img;
    be->ops->patchify(be, a->patches, img, B, S, S, P, 0);                       // (B,N,PD) in (c,p,q) order
    be->ops->linear_forward(be, a->s.t1, a->patches, m->w.conv, NULL, B * N, PD, Dv); // conv1 as a GEMM (B,N,Dv)
    for (int s = 0; s < B; s++) {
        float *tok = a->tokens + (size_t)s * (N + 1) * Dv; // (N+1,Dv)
        be->ops->copy(be, tok, m->w.cls, (size_t)Dv);
        be->ops->copy(be, tok + Dv, a->s.t1 + (size_t)s * N * Dv, (size_t)N * Dv);
        be->ops->add_inplace(be, tok, m->w.pos, (size_t)(N + 1) * Dv); /* positions before dropping patches */
    }
    int T = N + 1;
    const float *xin = a->tokens;
    if (pass == M3AE_PASS_MIM || pass == M3AE_PASS_JOINT) { /* keep CLS + the first `keep` patches of ids_shuffle, in that order */
        T = keep + 1;
        be->ops->gather_rows(be, a->vis_in, a->tokens, m->st.keep_idx, B, N + 1, T, Dv); // (B,keep+1,Dv)
        xin = a->vis_in;
    }
    m->cur_T = T;
    be->ops->layernorm_forward(be, a->vis_x[0], a->ln_pre_mean, a->ln_pre_rstd, xin, m->w.ln_pre_g, m->w.ln_pre_b, B * T, Dv,
                         CLIP_LN_EPS);
    for (int i = 0; i < c->vision_layers; i++)
        m3ae_clip_block_forward(be, a->vis_x[i + 1], a->vis_x[i], &m->w.vblk[i], &a->vblk[i], B, T, Dv, c->vision_heads);
    be->ops->layernorm_forward(be, a->vis_out, a->ln_post_mean, a->ln_post_rstd, a->vis_x[c->vision_layers], m->w.ln_post_g,
                         m->w.ln_post_b, B * T, Dv, CLIP_LN_EPS);
}

/* d_vis (B,T,Dv): gradient of the vision encoder output (clobbered). */
static void vision_backward(m3ae_model *m, m3ae_pass pass, const m3ae_batch *b) {
    m3ae_backend *be = m->be;
    const m3ae_config *c = &m->cfg;
    m3ae_acts *a = &m->a;
    const int B = b->B, N = m3ae_cfg_patches(c), PD = m3ae_cfg_patch_dim(c), Dv = c->vision_width, T = m->cur_T;
    const int n = B * T;
    be->ops->layernorm_backward(be, a->d_vis2, m->g.ln_post_g, m->g.ln_post_b, a->d_vis, a->vis_x[c->vision_layers],
                          a->ln_post_mean, a->ln_post_rstd, m->w.ln_post_g, n, Dv, 0);
    m3ae_grad_final(m, M3AE_GG_LN_POST, 0, 0);
    for (int i = c->vision_layers - 1; i >= 0; i--) {
        m3ae_clip_block_backward(be, a->d_vis2, a->vis_x[i], &m->w.vblk[i], &m->g.vblk[i], &a->vblk[i], &a->s, B, T, Dv,
                                 c->vision_heads);
        m3ae_grad_final(m, M3AE_GG_VISION_BLOCK, 0, i);
    }
    const int masked = pass == M3AE_PASS_MIM || pass == M3AE_PASS_JOINT;
    const float *xin = masked ? a->vis_in : a->tokens;
    be->ops->layernorm_backward(be, a->d_vis, m->g.ln_pre_g, m->g.ln_pre_b, a->d_vis2, xin, a->ln_pre_mean, a->ln_pre_rstd,
                          m->w.ln_pre_g, n, Dv, 0);
    const float *dtok = a->d_vis;
    if (masked) {
        be->ops->zero(be, a->d_tokens, (size_t)B * (N + 1) * Dv);
        be->ops->gather_rows_backward(be, a->d_tokens, a->d_vis, m->st.keep_idx, B, N + 1, T, Dv);
        dtok = a->d_tokens;
    }
    for (int s = 0; s < B; s++) {
        const float *dt = dtok + (size_t)s * (N + 1) * Dv;
        be->ops->add_inplace(be, m->g.pos, dt, (size_t)(N + 1) * Dv);
        be->ops->add_inplace(be, m->g.cls, dt, (size_t)Dv);
        be->ops->copy(be, a->s.t1 + (size_t)s * N * Dv, dt + Dv, (size_t)N * Dv);
    }
    be->ops->linear_backward(be, NULL, m->g.conv, NULL, a->s.t1, a->patches, m->w.conv, B * N, PD, Dv, 0);
    m3ae_grad_final(m, M3AE_GG_VISION_EMB, 0, 0);
}

/* ---- fusion ---- */

/* projections + modality type embeddings (0 text, 1 image): S0[0] (B,L,H) from the text encoder
 * output, S0[1] (B,T,H) from the vision encoder output */
static void project_text(m3ae_model *m, int B) {
    m3ae_backend *be = m->be;
    const m3ae_config *c = &m->cfg;
    m3ae_acts *a = &m->a;
    const int L = c->max_text_len, H = c->hidden_size;
    be->ops->linear_forward(be, a->S0[0], a->tffn[c->text_layers - 1].out, m->w.proj_w[0], m->w.proj_b[0], B * L,
                      c->text_width, H); // (B,L,H)
    be->ops->embedding_forward(be, a->s.t1, m->st.zeros, m->w.type_emb, B * L, H);
    be->ops->add_inplace(be, a->S0[0], a->s.t1, (size_t)B * L * H);
}

static void project_image(m3ae_model *m, int B) {
    m3ae_backend *be = m->be;
    const m3ae_config *c = &m->cfg;
    m3ae_acts *a = &m->a;
    const int T = m->cur_T, H = c->hidden_size;
    be->ops->linear_forward(be, a->S0[1], a->vis_out, m->w.proj_w[1], m->w.proj_b[1], B * T, c->vision_width, H); // (B,T,H)
    be->ops->embedding_forward(be, a->s.t1, m->st.ones, m->w.type_emb, B * T, H);
    be->ops->add_inplace(be, a->S0[1], a->s.t1, (size_t)B * T * H);
}

static void fusion_layers_forward(m3ae_model *m, m3ae_pass pass, const m3ae_batch *b);

static void fusion_forward(m3ae_model *m, m3ae_pass pass, const m3ae_batch *b) {
    project_text(m, b->B);
    project_image(m, b->B);
    fusion_layers_forward(m, pass, b);
}

/* The fusion layers and the poolers on the projected streams S0: cls (B,2H). The retrieval
 * evaluation enters here with S0 filled from cached unimodal features (m3ae_model_score_pairs). */
static void fusion_layers_forward(m3ae_model *m, m3ae_pass pass, const m3ae_batch *b) {
    m3ae_backend *be = m->be;
    const m3ae_config *c = &m->cfg;
    m3ae_acts *a = &m->a;
    const int B = b->B, L = c->max_text_len, T = m->cur_T, H = c->hidden_size, F = m3ae_cfg_fusion_ffn(c);
    const int nh = c->num_heads;
    m3ae_dropout d1, d2;
    for (int i = 0; i < c->num_top_layer; i++) {
        const float *X = stream_at(m, 0, i), *Y = stream_at(m, 1, i); /* both read the previous level */
        /* text layer: queries text, context image (no image mask) */
        m3ae_bert_attn_forward(be, X, X, &m->w.fself[0][i], &a->fself[0][i], m->st.text_mask, B, L, L, H, nh, FUSION_LN_EPS,
                               mkdrop(m, &d1, b, pass, M3AE_DROP_FUSION_TEXT, i, M3AE_DROP_SELF_PROBS),
                               mkdrop(m, &d2, b, pass, M3AE_DROP_FUSION_TEXT, i, M3AE_DROP_SELF_OUTPUT));
        m3ae_bert_attn_forward(be, a->fself[0][i].out, Y, &m->w.fcross[0][i], &a->fcross[0][i], NULL, B, L, T, H, nh,
                               FUSION_LN_EPS, mkdrop(m, &d1, b, pass, M3AE_DROP_FUSION_TEXT, i, M3AE_DROP_CROSS_PROBS),
                               mkdrop(m, &d2, b, pass, M3AE_DROP_FUSION_TEXT, i, M3AE_DROP_CROSS_OUTPUT));
        m3ae_bert_ffn_forward(be, a->fcross[0][i].out, &m->w.fffn[0][i], &a->fffn[0][i], B, L, H, F, FUSION_LN_EPS,
                              mkdrop(m, &d1, b, pass, M3AE_DROP_FUSION_TEXT, i, M3AE_DROP_FFN_OUTPUT));
        /* image layer: queries image, context text (text padding mask) */
        m3ae_bert_attn_forward(be, Y, Y, &m->w.fself[1][i], &a->fself[1][i], NULL, B, T, T, H, nh, FUSION_LN_EPS,
                               mkdrop(m, &d1, b, pass, M3AE_DROP_FUSION_IMAGE, i, M3AE_DROP_SELF_PROBS),
                               mkdrop(m, &d2, b, pass, M3AE_DROP_FUSION_IMAGE, i, M3AE_DROP_SELF_OUTPUT));
        m3ae_bert_attn_forward(be, a->fself[1][i].out, X, &m->w.fcross[1][i], &a->fcross[1][i], m->st.text_mask, B, T, L,
                               H, nh, FUSION_LN_EPS,
                               mkdrop(m, &d1, b, pass, M3AE_DROP_FUSION_IMAGE, i, M3AE_DROP_CROSS_PROBS),
                               mkdrop(m, &d2, b, pass, M3AE_DROP_FUSION_IMAGE, i, M3AE_DROP_CROSS_OUTPUT));
        m3ae_bert_ffn_forward(be, a->fcross[1][i].out, &m->w.fffn[1][i], &a->fffn[1][i], B, T, H, F, FUSION_LN_EPS,
                              mkdrop(m, &d1, b, pass, M3AE_DROP_FUSION_IMAGE, i, M3AE_DROP_FFN_OUTPUT));
    }
    /* poolers: tanh(Linear(token 0)) of each stream; cls = [text, image] (B,2H) */
    const int Ts[2] = {L, T};
    for (int s = 0; s < 2; s++) {
        be->ops->copy_rows(be, a->pool_in[s], H, stream_at(m, s, c->num_top_layer), Ts[s] * H, B, H); // (B,H)
        be->ops->linear_forward(be, a->pool_pre[s], a->pool_in[s], m->w.pool_w[s], m->w.pool_b[s], B, H, H);
        be->ops->tanh_forward(be, a->pool_out[s], a->pool_pre[s], (size_t)B * H);
        be->ops->copy_rows(be, a->cls + s * H, 2 * H, a->pool_out[s], H, B, H);
    }
}

/* IRTR: the image stream of the B pairs from that of the B / K images, s (B,T,H) in place: row
 * i * K + k <- row i (descending, so no source is overwritten before it is read). */
static void irtr_expand_copies(m3ae_model *m, float *s, int B, size_t row) {
    const int K = m->si.irtr_k;
    for (int i = B / K - 1; i >= 0; i--)
        for (int k = K - 1; k >= 0; k--)
            if (i * K + k != i) m->be->ops->copy(m->be, s + (size_t)(i * K + k) * row, s + (size_t)i * row, row);
}

/* Its backward: d (B,T,H) -> (B/K,T,H) in place, row i = the sum over the K copies of image i (the
 * gradient of the official expand); ascending, so no copy is overwritten before it is read.
 * Returns the images, B / K. */
static int irtr_reduce_copies(m3ae_model *m, float *d, int B, size_t row) {
    const int K = m->si.irtr_k;
    for (int i = 0; i < B / K; i++) {
        if (i) m->be->ops->copy(m->be, d + (size_t)i * row, d + (size_t)i * K * row, row);
        for (int k = 1; k < K; k++) m->be->ops->add_inplace(m->be, d + (size_t)i * row, d + (size_t)(i * K + k) * row, row);
    }
    return B / K;
}

/* Backward through fusion layers level-1 .. 0, starting from gradients dS[cur][s] of the streams at
 * `level` (has[s] says which are non-zero); `inj` (or NULL) is a gradient of the image stream at
 * level inj_level added on the way (the MIM head in the joint pass). Ends with the projection
 * backward into d_text / d_vis for the streams that have a gradient. */
static void fusion_backward(m3ae_model *m, m3ae_pass pass, const m3ae_batch *b, int level, int cur, int has[2],
                            const float *inj, int inj_level) {
    m3ae_backend *be = m->be;
    const m3ae_config *c = &m->cfg;
    m3ae_acts *a = &m->a;
    const int B = b->B, L = c->max_text_len, T = m->cur_T, H = c->hidden_size, F = m3ae_cfg_fusion_ffn(c);
    const int nh = c->num_heads, Ts[2] = {L, T};
    m3ae_dropout d1, d2;
    for (int lv = level;; lv--) {
        if (inj && lv == inj_level) {
            if (has[1])
                be->ops->add_inplace(be, a->dS[cur][1], inj, (size_t)B * T * H);
            else
                be->ops->copy(be, a->dS[cur][1], inj, (size_t)B * T * H);
            has[1] = 1;
        }
        if (lv == 0) break;
        const int i = lv - 1, nxt = 1 - cur;
        be->ops->zero(be, a->dS[nxt][0], (size_t)B * L * H);
        be->ops->zero(be, a->dS[nxt][1], (size_t)B * T * H);
        for (int s = 0; s < 2; s++) {
            if (!has[s]) continue;
            const int other = 1 - s, Tq = Ts[s], Tk = Ts[other];
            const m3ae_drop_stream st = s ? M3AE_DROP_FUSION_IMAGE : M3AE_DROP_FUSION_TEXT;
            const float *X = stream_at(m, s, i), *C = stream_at(m, other, i);
            be->ops->zero(be, a->u1, (size_t)B * Tq * H);
            m3ae_bert_ffn_backward(be, a->dS[cur][s], a->u1, a->fcross[s][i].out, &m->w.fffn[s][i], &m->g.fffn[s][i],
                                   &a->fffn[s][i], &a->s, B, Tq, H, F,
                                   mkdrop(m, &d1, b, pass, st, i, M3AE_DROP_FFN_OUTPUT));
            m3ae_grad_final(m, M3AE_GG_FUSION_FFN, s, i);
            be->ops->zero(be, a->u2, (size_t)B * Tq * H);
            m3ae_bert_attn_backward(be, a->u1, a->u2, a->dS[nxt][other], a->fself[s][i].out, C, &m->w.fcross[s][i],
                                    &m->g.fcross[s][i], &a->fcross[s][i], &a->s, B, Tq, Tk, H, nh,
                                    mkdrop(m, &d1, b, pass, st, i, M3AE_DROP_CROSS_PROBS),
                                    mkdrop(m, &d2, b, pass, st, i, M3AE_DROP_CROSS_OUTPUT));
            m3ae_grad_final(m, M3AE_GG_FUSION_CROSS, s, i);
            m3ae_bert_attn_backward(be, a->u2, a->dS[nxt][s], a->dS[nxt][s], X, X, &m->w.fself[s][i],
                                    &m->g.fself[s][i], &a->fself[s][i], &a->s, B, Tq, Tq, H, nh,
                                    mkdrop(m, &d1, b, pass, st, i, M3AE_DROP_SELF_PROBS),
                                    mkdrop(m, &d2, b, pass, st, i, M3AE_DROP_SELF_OUTPUT));
            m3ae_grad_final(m, M3AE_GG_FUSION_SELF, s, i);
        }
        const int any = has[0] || has[1];
        has[0] = has[1] = any;
        cur = nxt;
    }
    /* projections and type embeddings */
    if (has[0]) {
        be->ops->embedding_backward(be, m->g.type_emb, a->dS[cur][0], m->st.zeros, B * L, H, -1);
        be->ops->linear_backward(be, a->d_text, m->g.proj_w[0], m->g.proj_b[0], a->dS[cur][0], a->tffn[c->text_layers - 1].out,
                           m->w.proj_w[0], B * L, c->text_width, H, 0);
    }
    if (has[1]) {
        const int Bi = pass == M3AE_PASS_IRTR ? irtr_reduce_copies(m, a->dS[cur][1], B, (size_t)T * H) : B;
        be->ops->embedding_backward(be, m->g.type_emb, a->dS[cur][1], m->st.ones, Bi * T, H, -1);
        be->ops->linear_backward(be, a->d_vis, m->g.proj_w[1], m->g.proj_b[1], a->dS[cur][1], a->vis_out, m->w.proj_w[1], Bi * T,
                           c->vision_width, H, 0);
    }
    if (has[0] || has[1]) m3ae_grad_final(m, M3AE_GG_PROJECTIONS, 0, 0);
}

/* ---- heads ---- */

/* The MLM head (spec 1.6) on the staged rows mlm_rows of the final text stream: every position, or
 * (default) only the predicted ones, which gives the same loss and gradients. */
static double mlm_forward(m3ae_model *m, const m3ae_batch *b) {
    m3ae_backend *be = m->be;
    const m3ae_config *c = &m->cfg;
    m3ae_acts *a = &m->a;
    const int B = b->B, L = c->max_text_len, H = c->hidden_size, V = c->vocab_size;
    const int all = m->mlm_all_positions, n = m->si.mlm_rows[all], local = m->si.mlm_local;
    m->mlm_rows = n;
    double denom = b->mlm_denom > 0 ? b->mlm_denom : local;
    m->denom[M3AE_PASS_MLM] = denom;
    m->last.mlm_count = 0, m->last.mlm_correct = 0, m->last.mlm = 0.0;
    if (n == 0) return 0.0;
    const float *X = stream_at(m, 0, c->num_top_layer);                  // (B,L,H)
    be->ops->gather_rows(be, a->mlm_x, X, m->st.mlm_rows[all], 1, B * L, n, H);          // (n,H)
    be->ops->linear_forward(be, a->mlm_h, a->mlm_x, m->w.mlm.dense_w, m->w.mlm.dense_b, n, H, H); // (n,H)
    be->ops->gelu_forward(be, a->mlm_g, a->mlm_h, (size_t)n * H);
    be->ops->layernorm_forward(be, a->mlm_ln, a->mlm_mean, a->mlm_rstd, a->mlm_g, m->w.mlm.ln_g, m->w.mlm.ln_b, n, H,
                         FUSION_LN_EPS);
    be->ops->linear_forward(be, a->mlm_logits, a->mlm_ln, m->w.mlm.dec_w, m->w.mlm.bias, n, H, V); // (n,V)
    int count = 0, correct = 0;
    double sum = be->ops->cross_entropy(be, a->mlm_dlogits, a->mlm_logits, m->st.mlm_labels[all], n, V, M3AE_IGNORE_INDEX,
                                  denom > 0 ? (float)(1.0 / denom) : 0.0f, &count, &correct);
    m->last.mlm_count = count;
    m->last.mlm_correct = correct;
    m->last.mlm = denom > 0 ? sum / denom : 0.0;
    return m->last.mlm;
}

/* dX (B,L,H) is written: zero except at the head's rows. */
static void mlm_backward(m3ae_model *m, const m3ae_batch *b, float *dX) {
    m3ae_backend *be = m->be;
    const m3ae_config *c = &m->cfg;
    m3ae_acts *a = &m->a;
    const int B = b->B, L = c->max_text_len, H = c->hidden_size, V = c->vocab_size, n = m->mlm_rows;
    be->ops->zero(be, dX, (size_t)B * L * H);
    if (n == 0) return;
    be->ops->linear_backward(be, a->s.t1, m->g.mlm.dec_w, m->g.mlm.bias, a->mlm_dlogits, a->mlm_ln, m->w.mlm.dec_w, n, H, V, 0);
    be->ops->layernorm_backward(be, a->s.t2, m->g.mlm.ln_g, m->g.mlm.ln_b, a->s.t1, a->mlm_g, a->mlm_mean, a->mlm_rstd,
                          m->w.mlm.ln_g, n, H, 0);
    be->ops->gelu_backward(be, a->s.t2, a->s.t2, a->mlm_h, (size_t)n * H);
    be->ops->linear_backward(be, a->s.t1, m->g.mlm.dense_w, m->g.mlm.dense_b, a->s.t2, a->mlm_x, m->w.mlm.dense_w, n, H, H, 0);
    be->ops->gather_rows_backward(be, dX, a->s.t1, m->st.mlm_rows[m->mlm_all_positions], 1, B * L, n, H);
}

static double mim_forward(m3ae_model *m, const m3ae_batch *b) {
    m3ae_backend *be = m->be;
    const m3ae_config *c = &m->cfg;
    m3ae_acts *a = &m->a;
    const int B = b->B, N = m3ae_cfg_patches(c), PD = m3ae_cfg_patch_dim(c), keep = m3ae_cfg_mim_keep(c);
    const int H = c->hidden_size, Dd = c->mim_decoder_hidden_size, Tk = keep + 1, E = keep + 2, T = N + 1;
    const float *Y = stream_at(m, 1, c->mim_layer); // (B,keep+1,H)
    /* decoder_embed, then [embedded tokens..., mask_token] per sample: (B,keep+2,Dd) */
    be->ops->linear_forward(be, a->s.t1, Y, m->w.mim.embed_w, m->w.mim.embed_b, B * Tk, H, Dd);
    for (int s = 0; s < B; s++) {
        be->ops->copy(be, a->mim_ext + (size_t)s * E * Dd, a->s.t1 + (size_t)s * Tk * Dd, (size_t)Tk * Dd);
        be->ops->copy(be, a->mim_ext + ((size_t)s * E + Tk) * Dd, m->w.mim.mask_token, (size_t)Dd);
    }
    /* un-shuffle (staged): CLS, then patch j <- its kept token (ids_restore[j] < keep) or the mask token */
    be->ops->gather_rows(be, a->dec_x[0], a->mim_ext, m->st.unshuf, B, E, T, Dd); // (B,N+1,Dd)
    for (int s = 0; s < B; s++) be->ops->add_inplace(be, a->dec_x[0] + (size_t)s * T * Dd, m->w.mim.dec_pos, (size_t)T * Dd);
    for (int i = 0; i < c->mim_decoder_num_layers; i++)
        m3ae_clip_block_forward(be, a->dec_x[i + 1], a->dec_x[i], &m->w.mim.blk[i], &a->dblk[i], B, T, Dd,
                                c->mim_decoder_num_heads);
    be->ops->layernorm_forward(be, a->dec_norm, a->dec_mean, a->dec_rstd, a->dec_x[c->mim_decoder_num_layers], m->w.mim.norm_g,
                         m->w.mim.norm_b, B * T, Dd, CLIP_LN_EPS);
    for (int s = 0; s < B; s++) /* decoder_pred on the patch tokens (CLS dropped): (B,N,PD) */
        be->ops->linear_forward(be, a->mim_pred + (size_t)s * N * PD, a->dec_norm + ((size_t)s * T + 1) * Dd, m->w.mim.pred_w,
                          m->w.mim.pred_b, N, Dd, PD);
    /* target: patchify (p,q,c) of the input image, normalised per patch (unbiased var + 1e-6) */
    be->ops->patchify(be, a->mim_target, m->st.img, B, c->image_size, c->image_size, c->patch_size, 1);
    be->ops->patch_normalize(be, a->mim_target, B * N, PD, 1e-6f);
    double local = (double)B * (N - keep);
    double denom = b->mim_denom > 0 ? b->mim_denom : local;
    m->denom[M3AE_PASS_MIM] = denom;
    double sum = be->ops->mim_loss(be, a->mim_dpred, a->mim_pred, a->mim_target, m->st.mim_mask, B * N, PD,
                             denom > 0 ? (float)(1.0 / denom) : 0.0f);
    m->last.mim_count = local;
    m->last.mim = denom > 0 ? sum / denom : 0.0;
    return m->last.mim;
}

static void mim_backward(m3ae_model *m, const m3ae_batch *b, float *dY) {
    m3ae_backend *be = m->be;
    const m3ae_config *c = &m->cfg;
    m3ae_acts *a = &m->a;
    const int B = b->B, N = m3ae_cfg_patches(c), PD = m3ae_cfg_patch_dim(c), keep = m3ae_cfg_mim_keep(c);
    const int H = c->hidden_size, Dd = c->mim_decoder_hidden_size, Tk = keep + 1, E = keep + 2, T = N + 1;
    be->ops->zero(be, a->d_dec, (size_t)B * T * Dd);
    for (int s = 0; s < B; s++)
        be->ops->linear_backward(be, a->d_dec + ((size_t)s * T + 1) * Dd, m->g.mim.pred_w, m->g.mim.pred_b,
                           a->mim_dpred + (size_t)s * N * PD, a->dec_norm + ((size_t)s * T + 1) * Dd, m->w.mim.pred_w, N,
                           Dd, PD, 0);
    be->ops->layernorm_backward(be, a->d_dec2, m->g.mim.norm_g, m->g.mim.norm_b, a->d_dec, a->dec_x[c->mim_decoder_num_layers],
                          a->dec_mean, a->dec_rstd, m->w.mim.norm_g, B * T, Dd, 0);
    m3ae_grad_final(m, M3AE_GG_MIM_OUT, 0, 0);
    for (int i = c->mim_decoder_num_layers - 1; i >= 0; i--) {
        m3ae_clip_block_backward(be, a->d_dec2, a->dec_x[i], &m->w.mim.blk[i], &m->g.mim.blk[i], &a->dblk[i], &a->s, B, T, Dd,
                                 c->mim_decoder_num_heads);
        m3ae_grad_final(m, M3AE_GG_MIM_BLOCK, 0, i);
    }
    /* decoder_pos_embed is fixed: no gradient */
    be->ops->zero(be, a->d_ext, (size_t)B * E * Dd);
    be->ops->gather_rows_backward(be, a->d_ext, a->d_dec2, m->st.unshuf, B, E, T, Dd);
    for (int s = 0; s < B; s++) {
        be->ops->add_inplace(be, m->g.mim.mask_token, a->d_ext + ((size_t)s * E + Tk) * Dd, (size_t)Dd);
        be->ops->copy(be, a->s.t1 + (size_t)s * Tk * Dd, a->d_ext + (size_t)s * E * Dd, (size_t)Tk * Dd);
    }
    be->ops->linear_backward(be, dY, m->g.mim.embed_w, m->g.mim.embed_b, a->s.t1, stream_at(m, 1, c->mim_layer),
                       m->w.mim.embed_w, B * Tk, H, Dd, 0);
    m3ae_grad_final(m, M3AE_GG_MIM_IN, 0, 0); /* with the fixed decoder_pos_embed */
}

static double itm_forward(m3ae_model *m, const m3ae_batch *b) {
    m3ae_backend *be = m->be;
    m3ae_acts *a = &m->a;
    const int B = b->B, H = m->cfg.hidden_size;
    be->ops->linear_forward(be, a->itm_logits, a->cls, m->w.itm.w, m->w.itm.b, B, 2 * H, 2); // (B,2)
    double denom = b->itm_denom > 0 ? b->itm_denom : B;
    m->denom[M3AE_PASS_ITM] = denom;
    int count = 0, correct = 0;
    double sum = be->ops->cross_entropy(be, a->itm_dlogits, a->itm_logits, m->st.itm_labels, B, 2, M3AE_IGNORE_INDEX, (float)(1.0 / denom),
                                  &count, &correct);
    m->last.itm_correct = correct;
    m->last.itm = sum / denom;
    return m->last.itm;
}

/* From the gradient of the pooled features d_cls (B,2H): the poolers' backward, then writes the
 * gradients of both top fusion streams (only token 0 is non-zero). */
static void pooler_backward(m3ae_model *m, const m3ae_batch *b, float *dX, float *dY) {
    m3ae_backend *be = m->be;
    m3ae_acts *a = &m->a;
    const int B = b->B, H = m->cfg.hidden_size, Ts[2] = {m->cfg.max_text_len, m->cur_T};
    float *dS[2] = {dX, dY};
    for (int s = 0; s < 2; s++) {
        be->ops->copy_rows(be, a->s.t1, H, a->d_cls + s * H, 2 * H, B, H); // (B,H)
        be->ops->tanh_backward(be, a->s.t1, a->s.t1, a->pool_out[s], (size_t)B * H);
        be->ops->linear_backward(be, a->s.t2, m->g.pool_w[s], m->g.pool_b[s], a->s.t1, a->pool_in[s], m->w.pool_w[s], B, H, H, 0);
        be->ops->zero(be, dS[s], (size_t)B * Ts[s] * H);
        be->ops->copy_rows(be, dS[s], Ts[s] * H, a->s.t2, H, B, H);
    }
    m3ae_grad_final(m, M3AE_GG_POOLERS, 0, 0);
}

static void itm_backward(m3ae_model *m, const m3ae_batch *b, float *dX, float *dY) {
    m3ae_backend *be = m->be;
    m3ae_acts *a = &m->a;
    const int B = b->B, H = m->cfg.hidden_size;
    be->ops->linear_backward(be, a->d_cls, m->g.itm.w, m->g.itm.b, a->itm_dlogits, a->cls, m->w.itm.w, B, 2 * H, 2, 0);
    m3ae_grad_final(m, M3AE_GG_ITM_HEAD, 0, 0);
    pooler_backward(m, b, dX, dY);
}

/* The VQA head (spec 1.6) on the pooled features cls (B,2H): fc1, LayerNorm (eps 1e-5), GELU(erf),
 * fc2 -> logits (B,n). Loss (official): BCEWithLogits(logits, one-hot target) * n, i.e. the sum over
 * the n labels averaged over the batch; here over vqa_denom samples (<= 0: B) so that ranks and
 * micro-batches add up to the global mean. The loss and its logit gradient (sigmoid(x) - t) / denom
 * are computed on the host in double: B x n floats each way, small next to the backbone. */
static double vqa_forward(m3ae_model *m, const m3ae_batch *b) {
    m3ae_backend *be = m->be;
    m3ae_acts *a = &m->a;
    const int B = b->B, H2 = 2 * m->cfg.hidden_size, n = m->cfg.vqa_labels;
    m3ae_classifier_forward(be, &m->w.vqa, &a->vqa, a->cls, B, H2, n); // (B,2H) -> (B,n)
    const double denom = b->vqa_denom > 0 ? b->vqa_denom : B;
    m->denom[M3AE_PASS_VQA] = denom;
    float *x = m->h_vqa_logits, *dx = m->h_vqa_dlogits;
    be->ops->download(be, x, a->vqa.logits, (size_t)B * n * sizeof(float));
    double sum = 0;
    int correct = 0;
    for (int s = 0; s < B; s++) {
        const int y = m->h_vqa_labels[s];
        int arg = 0;
        for (int j = 0; j < n; j++) {
            const double v = x[(size_t)s * n + j], t = j == y;
            /* stable: max(v,0) - v t + log(1 + exp(-|v|)) */
            sum += (v > 0 ? v : 0) - v * t + log1p(exp(-fabs(v)));
            dx[(size_t)s * n + j] = (float)((1.0 / (1.0 + exp(-v)) - t) / denom);
            if (x[(size_t)s * n + j] > x[(size_t)s * n + arg]) arg = j;
        }
        correct += y >= 0 && arg == y;
    }
    be->ops->upload(be, a->vqa.dlogits, dx, (size_t)B * n * sizeof(float));
    m->last.vqa_count = B;
    m->last.vqa_correct = correct;
    m->last.vqa = sum / denom;
    return m->last.vqa;
}

/* The backward of a classifier head pass (VQA, CLS): the head from its logit gradients, then the
 * poolers; dX, dY as pooler_backward. */
static void classifier_pass_backward(m3ae_model *m, const m3ae_batch *b, const m3ae_classifier_w *w,
                                     m3ae_classifier_w *g, const m3ae_classifier_acts *ha, int n,
                                     m3ae_grad_group_kind group, float *dX, float *dY) {
    m3ae_acts *a = &m->a;
    m3ae_classifier_backward(m->be, w, g, ha, a->cls, a->d_cls, a->s.t1, a->s.t2, b->B, 2 * m->cfg.hidden_size, n);
    m3ae_grad_final(m, group, 0, 0);
    pooler_backward(m, b, dX, dY);
}

/* The classification head (spec 1.6, 4.2) on the pooled features: the same classifier as VQA, with
 * the official F.cross_entropy(logits, labels): the mean over the batch, here over cls_denom samples
 * (<= 0: B) so that ranks and micro-batches add up to the global mean. A sample of class -1 (outside
 * the training vocabulary; staged as ignore_index) adds no loss and is never correct. The loss runs
 * on the backend (labels staged), like ITM's. */
static double cls_forward(m3ae_model *m, const m3ae_batch *b) {
    m3ae_backend *be = m->be;
    m3ae_acts *a = &m->a;
    const int B = b->B, H2 = 2 * m->cfg.hidden_size, n = m->cfg.cls_labels;
    m3ae_classifier_forward(be, &m->w.cls_head, &a->cls_head, a->cls, B, H2, n); // (B,2H) -> (B,n)
    const double denom = b->cls_denom > 0 ? b->cls_denom : B;
    m->denom[M3AE_PASS_CLS] = denom;
    int count = 0, correct = 0;
    double sum = be->ops->cross_entropy(be, a->cls_head.dlogits, a->cls_head.logits, m->st.cls_labels, B, n, M3AE_IGNORE_INDEX,
                                        (float)(1.0 / denom), &count, &correct);
    m->last.cls_count = B;
    m->last.cls_correct = correct;
    m->last.cls = sum / denom;
    return m->last.cls;
}

/* The batch of the IRTR pass's images: B / K, the other fields as b. */
static m3ae_batch irtr_image_batch(const m3ae_model *m, const m3ae_batch *b) {
    m3ae_batch bi = *b;
    bi.B = b->B / m->si.irtr_k;
    return bi;
}

/* The retrieval head (spec 1.6, official irtr_head) on the pooled features cls (B,2H): one score a
 * pair, (B,1), in the itm_logits buffer (>= B floats; the ITM head does not run in this pass).
 * Loss (official, objectives.py compute_irtr): per image the cross-entropy of its K scores with the
 * positive (k = 0) as the target, summed over the images, / irtr_denom. On the host in double:
 * B floats each way. */
static double irtr_forward(m3ae_model *m, const m3ae_batch *b) {
    m3ae_backend *be = m->be;
    m3ae_acts *a = &m->a;
    const int B = b->B, H2 = 2 * m->cfg.hidden_size, K = m->si.irtr_k, NI = B / K;
    be->ops->linear_forward(be, a->itm_logits, a->cls, m->w.irtr.w, m->w.irtr.b, B, H2, 1); // (B,1)
    const double denom = b->irtr_denom > 0 ? b->irtr_denom : NI;
    m->denom[M3AE_PASS_IRTR] = denom;
    float *x = m->h_irtr_scores, *dx = m->h_irtr_dscores;
    be->ops->download(be, x, a->itm_logits, (size_t)B * sizeof(float));
    double sum = 0;
    int correct = 0;
    for (int i = 0; i < NI; i++) {
        const float *s = x + (size_t)i * K;
        double mx = s[0], z = 0;
        int arg = 0;
        for (int k = 1; k < K; k++) {
            if (s[k] > mx) mx = s[k];
            if (s[k] > s[arg]) arg = k;
        }
        for (int k = 0; k < K; k++) z += exp((double)s[k] - mx);
        sum += mx + log(z) - s[0];
        for (int k = 0; k < K; k++) dx[(size_t)i * K + k] = (float)((exp((double)s[k] - mx) / z - (k == 0)) / denom);
        correct += arg == 0;
    }
    be->ops->upload(be, a->itm_dlogits, dx, (size_t)B * sizeof(float));
    m->last.irtr_count = NI;
    m->last.irtr_correct = correct;
    m->last.irtr = sum / denom;
    return m->last.irtr;
}

static void irtr_backward(m3ae_model *m, const m3ae_batch *b, float *dX, float *dY) {
    m3ae_backend *be = m->be;
    m3ae_acts *a = &m->a;
    const int B = b->B, H2 = 2 * m->cfg.hidden_size;
    be->ops->linear_backward(be, a->d_cls, m->g.irtr.w, m->g.irtr.b, a->itm_dlogits, a->cls, m->w.irtr.w, B, H2, 1, 0);
    m3ae_grad_final(m, M3AE_GG_IRTR_HEAD, 0, 0);
    pooler_backward(m, b, dX, dY);
}

/* ---- the passes ---- */

double m3ae_model_forward(m3ae_model *m, m3ae_pass pass, const m3ae_batch *b) {
    check_staged(m, pass, b);
    m->cur_B = b->B;
    m->cur_pass = pass;
    text_forward(m, pass, b);
    if (pass == M3AE_PASS_IRTR) { /* the vision encoder once per image, its stream copied to the K pairs */
        const m3ae_batch bi = irtr_image_batch(m, b);
        vision_forward(m, pass, &bi);
        project_text(m, b->B);
        project_image(m, bi.B);
        irtr_expand_copies(m, m->a.S0[1], b->B, (size_t)m->cur_T * m->cfg.hidden_size);
        fusion_layers_forward(m, pass, b);
        return irtr_forward(m, b);
    }
    vision_forward(m, pass, b);
    fusion_forward(m, pass, b);
    switch (pass) {
    case M3AE_PASS_MLM: return mlm_forward(m, b);
    case M3AE_PASS_MIM: return mim_forward(m, b);
    case M3AE_PASS_ITM: return itm_forward(m, b);
    case M3AE_PASS_VQA: return vqa_forward(m, b);
    case M3AE_PASS_CLS: return cls_forward(m, b);
    case M3AE_PASS_IRTR: break; /* above */
    case M3AE_PASS_JOINT: {
        double l = mlm_forward(m, b);
        return l + mim_forward(m, b);
    }
    }
    M3AE_FATAL(M3AE_EXIT_FAIL, "unknown pass %d", (int)pass);
}

void m3ae_model_backward(m3ae_model *m, m3ae_pass pass, const m3ae_batch *b) {
    M3AE_CHECK(m->cur_pass == (int)pass && m->cur_B == b->B, M3AE_EXIT_FAIL,
               "backward of pass %d called after the forward of pass %d (run forward then backward per pass)",
               (int)pass, m->cur_pass);
    m3ae_acts *a = &m->a;
    int has[2] = {0, 0}, level = m->cfg.num_top_layer;
    switch (pass) {
    case M3AE_PASS_MLM:
        mlm_backward(m, b, a->dS[0][0]);
        m3ae_grad_final(m, M3AE_GG_MLM_HEAD, 0, 0); /* also when no token is labelled: final all the same */
        has[0] = 1;
        break;
    case M3AE_PASS_MIM:
        mim_backward(m, b, a->dS[0][1]);
        level = m->cfg.mim_layer;
        has[1] = 1;
        break;
    case M3AE_PASS_ITM:
        itm_backward(m, b, a->dS[0][0], a->dS[0][1]);
        has[0] = has[1] = 1;
        break;
    case M3AE_PASS_VQA:
        classifier_pass_backward(m, b, &m->w.vqa, &m->g.vqa, &a->vqa, m->cfg.vqa_labels, M3AE_GG_VQA_HEAD, a->dS[0][0],
                                 a->dS[0][1]);
        has[0] = has[1] = 1;
        break;
    case M3AE_PASS_CLS:
        classifier_pass_backward(m, b, &m->w.cls_head, &m->g.cls_head, &a->cls_head, m->cfg.cls_labels, M3AE_GG_CLS_HEAD,
                                 a->dS[0][0], a->dS[0][1]);
        has[0] = has[1] = 1;
        break;
    case M3AE_PASS_IRTR:
        irtr_backward(m, b, a->dS[0][0], a->dS[0][1]);
        has[0] = has[1] = 1;
        break;
    case M3AE_PASS_JOINT:
        mlm_backward(m, b, a->dS[0][0]);
        m3ae_grad_final(m, M3AE_GG_MLM_HEAD, 0, 0);
        mim_backward(m, b, a->d_inj);
        has[0] = 1;
        break;
    }
    fusion_backward(m, pass, b, level, 0, has, pass == M3AE_PASS_JOINT ? a->d_inj : NULL, m->cfg.mim_layer);
    if (has[0]) text_backward(m, pass, b);
    if (has[1]) {
        const m3ae_batch bi = pass == M3AE_PASS_IRTR ? irtr_image_batch(m, b) : *b;
        vision_backward(m, pass, &bi);
    }
}

void m3ae_model_step(m3ae_model *m, const m3ae_batch *b, const m3ae_pass_list *passes, int last_micro,
                     m3ae_losses *losses) {
    M3AE_CHECK(passes && passes->n >= 1, M3AE_EXIT_USAGE, "model step without passes");
    m3ae_grad_groups *gg = &m->gg;
    m3ae_grad_groups_begin(m, passes->passes, passes->n, last_micro);
    double total = 0;
    for (int p = 0; p < passes->n; p++) {
        if (m->pass_fn) m->pass_fn(m->pass_ctx, passes->passes[p], 0);
        total += m3ae_model_forward(m, passes->passes[p], b);
        if (m->pass_fn) m->pass_fn(m->pass_ctx, passes->passes[p], 1);
        gg->pidx = p, gg->pass = (int)passes->passes[p];
        m3ae_model_backward(m, passes->passes[p], b);
        gg->pidx = -1;
        if (m->pass_fn) m->pass_fn(m->pass_ctx, passes->passes[p], 2);
    }
    m3ae_grad_groups_end(m);
    m->last.total = total;
    if (losses) *losses = m->last;
}

void m3ae_model_last_losses(const m3ae_model *m, m3ae_losses *losses) { *losses = m->last; }

/* ---- cross-encoder retrieval on cached unimodal features (spec 4.3) ----
 * A retrieval split scores every image x text pair; the text and vision encoders (with their
 * projections and type embeddings) depend on one side only, so they run once per text and once per
 * image, and only the fusion layers, the poolers and the score run per pair. The features are the
 * fusion inputs S0 in the activation dtype, copied as bytes, so the cache is backend-agnostic. */

int m3ae_model_max_batch(const m3ae_model *m) { return m->max_batch; }

size_t m3ae_model_text_feature_bytes(const m3ae_model *m) {
    return (size_t)m->cfg.max_text_len * m->cfg.hidden_size * m3ae_dtype_bytes(m->a.dtype);
}

size_t m3ae_model_image_feature_bytes(const m3ae_model *m) {
    return (size_t)(m3ae_cfg_patches(&m->cfg) + 1) * m->cfg.hidden_size * m3ae_dtype_bytes(m->a.dtype);
}

static void check_eval_mode(const m3ae_model *m, int n, const char *what) {
    M3AE_CHECK(!m->train, M3AE_EXIT_USAGE, "%s in training mode: call m3ae_model_set_train(m, 0, ...) first (dropout "
               "would make the cached features differ from a per-pair pass)", what);
    M3AE_CHECK(n >= 1 && n <= m->max_batch, M3AE_EXIT_USAGE, "%s of %d items, but the model's memory was planned for "
               "at most %d", what, n, m->max_batch);
}

void m3ae_model_encode_texts(m3ae_model *m, const int32_t *ids, const int32_t *masks, int n, void *out) {
    check_eval_mode(m, n, "m3ae_model_encode_texts");
    const m3ae_batch b = {.B = n, .text_ids = ids, .text_masks = masks};
    m3ae_model_stage(m, &b); /* ids, RoBERTa positions, key mask */
    text_forward(m, M3AE_PASS_ITM, &b); /* the ITM pass reads the unmasked text */
    project_text(m, n);
    m->be->ops->download(m->be, out, m->a.S0[0], (size_t)n * m3ae_model_text_feature_bytes(m));
    m->cur_pass = -1; /* no backward from here */
}

void m3ae_model_encode_images(m3ae_model *m, const float *images, int n, void *out) {
    check_eval_mode(m, n, "m3ae_model_encode_images");
    m3ae_backend *be = m->be;
    const int S = m->cfg.image_size;
    const m3ae_batch b = {.B = n};
    /* the ITM pass's full image, without staging the text (nothing else of the stage is read) */
    be->ops->upload(be, m->st.itm_img, images, (size_t)n * 3 * S * S * sizeof(float));
    vision_forward(m, M3AE_PASS_ITM, &b);
    project_image(m, n);
    be->ops->download(be, out, m->a.S0[1], (size_t)n * m3ae_model_image_feature_bytes(m));
    m->si.valid = 0; /* the staged images changed: a pass must stage again */
    m->cur_pass = -1;
}

void m3ae_model_score_pairs(m3ae_model *m, const void *const *text_feats, const int32_t *const *text_masks,
                            const void *const *image_feats, int B, float *scores) {
    check_eval_mode(m, B, "m3ae_model_score_pairs");
    m3ae_backend *be = m->be;
    m3ae_acts *a = &m->a;
    const int L = m->cfg.max_text_len, H = m->cfg.hidden_size;
    const size_t tb = m3ae_model_text_feature_bytes(m), ib = m3ae_model_image_feature_bytes(m);
    for (int s = 0; s < B; s++) {
        be->ops->upload(be, (char *)a->S0[0] + (size_t)s * tb, text_feats[s], tb);  // (L,H) of pair s
        be->ops->upload(be, (char *)a->S0[1] + (size_t)s * ib, image_feats[s], ib); // (N+1,H)
        for (int t = 0; t < L; t++) m->hst.text_mask[s * L + t] = text_masks[s][t] ? 0.0f : -10000.0f;
    }
    be->ops->upload(be, m->st.text_mask, m->hst.text_mask, (size_t)B * L * sizeof(float));
    m->cur_T = m3ae_cfg_patches(&m->cfg) + 1;
    m->cur_B = B;
    const m3ae_batch b = {.B = B};
    fusion_layers_forward(m, M3AE_PASS_ITM, &b);
    /* the score: the ITM head's match row (itm_head.fc.weight[1] . cls + bias[1]); the fine-tuned
     * irtr_head is loaded into that row (launch/eval_irtr.c), as the official storage-sharing alias */
    if (m->cfg.irtr_head > 0) { /* a retrieval fine-tuning model scores with its own head */
        be->ops->linear_forward(be, a->itm_logits, a->cls, m->w.irtr.w, m->w.irtr.b, B, 2 * H, 1); // (B,1)
        be->ops->download(be, scores, a->itm_logits, (size_t)B * sizeof(float));
    } else {
        be->ops->linear_forward(be, a->itm_logits, a->cls, m->w.itm.w, m->w.itm.b, B, 2 * H, 2); // (B,2)
        be->ops->copy_rows(be, a->s.t1, 1, a->itm_logits + 1, 2, B, 1); /* column 1: (B) */
        be->ops->download(be, scores, a->s.t1, (size_t)B * sizeof(float));
    }
    m->si.valid = 0; /* the staged key mask changed */
    m->cur_pass = -1;
}
