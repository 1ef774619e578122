/* The three pretraining passes of M3AE (spec 2.1), forward and backward:
 *   MLM: masked text + full image -> MLM head on the last fusion text output
 *   MIM: full text + kept patches  -> MIM decoder on the image stream entering fusion layer mim_layer
 *   ITM: full text + ITM image     -> ITM head on the pooled [text CLS, image CLS]
 * Shapes: B batch, L text length, T image tokens (N+1, or keep+1 in the MIM pass), widths Dv (CLIP),
 * Dt (RoBERTa), H (fusion), Dd (MIM decoder), PD = 3 P^2 patch vector. */
#include <math.h>
#include <string.h>

#include "common/error.h"
#include "common/facts.h"
#include "model/m3ae_internal.h"

#define ROBERTA_LN_EPS 1e-5f
#define FUSION_LN_EPS 1e-12f
#define CLIP_LN_EPS 1e-5f
#define PAD_ID 1

static const m3ae_dropout *mkdrop(const m3ae_model *m, m3ae_dropout *d, const m3ae_batch *b, int pass, int stream,
                                  int layer, int place) {
    if (!m->train || m->cfg.drop_rate <= 0) return NULL;
    d->p = (float)m->cfg.drop_rate;
    d->seed = m->seed;
    d->step = b->step;
    d->site = m3ae_dropout_site(pass, stream, layer, place);
    d->sample_ids = m->h_sample_ids;
    return d;
}

/* The fusion stream s at level i (0 = projected input, i = output of fusion layer i-1). */
static float *stream_at(const m3ae_model *m, int s, int i) {
    return i == 0 ? m->a.S0[s] : m->a.fffn[s][i - 1].out;
}

/* ---- input checks and host index preparation ---- */

static void check_batch(const m3ae_model *m, m3ae_pass pass, const m3ae_batch *b) {
    const m3ae_config *c = &m->cfg;
    const int L = c->max_text_len, N = m3ae_cfg_patches(c), V = c->vocab_size;
    M3AE_CHECK(b->B >= 1 && b->B <= m->max_batch, M3AE_EXIT_USAGE,
               "batch of %d samples, but the model's memory was planned for at most %d", b->B, m->max_batch);
    const int masked_text = pass == M3AE_PASS_MLM || pass == M3AE_PASS_JOINT;
    const int masked_image = pass == M3AE_PASS_MIM || pass == M3AE_PASS_JOINT;
    const int32_t *ids = masked_text ? b->mlm_ids : b->text_ids;
    M3AE_CHECK(ids && b->text_masks, M3AE_EXIT_USAGE, "batch lacks %s or text_masks",
               masked_text ? "mlm_ids" : "text_ids");
    for (int i = 0; i < b->B * L; i++)
        M3AE_CHECK(ids[i] >= 0 && ids[i] < V, M3AE_EXIT_DATA, "token id %d at sample %d position %d is outside [0, %d)",
                   ids[i], i / L, i % L, V);
    M3AE_CHECK((pass == M3AE_PASS_ITM ? b->itm_images : b->images) != NULL, M3AE_EXIT_USAGE, "batch lacks %s",
               pass == M3AE_PASS_ITM ? "itm_images" : "images");
    if (masked_text) {
        M3AE_CHECK(b->mlm_labels, M3AE_EXIT_USAGE, "batch lacks mlm_labels");
        for (int i = 0; i < b->B * L; i++)
            M3AE_CHECK(b->mlm_labels[i] == -100 || (b->mlm_labels[i] >= 0 && b->mlm_labels[i] < V), M3AE_EXIT_DATA,
                       "MLM label %d at sample %d position %d is neither -100 nor in [0, %d)", b->mlm_labels[i],
                       i / L, i % L, V);
    }
    if (masked_image) {
        M3AE_CHECK(b->mim_ids_shuffle, M3AE_EXIT_USAGE, "batch lacks mim_ids_shuffle");
        char *seen = (char *)m->h_fbuf; /* N bytes <= N floats */
        for (int s = 0; s < b->B; s++) {
            memset(seen, 0, (size_t)N);
            for (int j = 0; j < N; j++) {
                int v = b->mim_ids_shuffle[s * N + j];
                M3AE_CHECK(v >= 0 && v < N && !seen[v], M3AE_EXIT_DATA,
                           "mim_ids_shuffle of sample %d is not a permutation of 0..%d (entry %d = %d)", s, N - 1, j, v);
                seen[v] = 1;
            }
        }
    }
    if (pass == M3AE_PASS_ITM) {
        M3AE_CHECK(b->itm_labels, M3AE_EXIT_USAGE, "batch lacks itm_labels");
        for (int s = 0; s < b->B; s++)
            M3AE_CHECK(b->itm_labels[s] == 0 || b->itm_labels[s] == 1, M3AE_EXIT_DATA,
                       "ITM label %d of sample %d is not 0 or 1", b->itm_labels[s], s);
    }
}

/* ---- text encoder ---- */

static void text_forward(m3ae_model *m, m3ae_pass pass, const m3ae_batch *b) {
    const m3ae_ops *o = m->ops;
    const m3ae_config *c = &m->cfg;
    m3ae_acts *a = &m->a;
    const int B = b->B, L = c->max_text_len, Dt = c->text_width, n = B * L;
    const int32_t *ids = pass == M3AE_PASS_MLM || pass == M3AE_PASS_JOINT ? b->mlm_ids : b->text_ids;
    /* host: ids, RoBERTa positions cumsum(ids != pad) * (ids != pad) + pad, additive key mask */
    for (int s = 0; s < B; s++) {
        int cum = 0;
        for (int t = 0; t < L; t++) {
            int i = s * L + t, nonpad = ids[i] != PAD_ID;
            cum += nonpad;
            m->h_ids[i] = ids[i];
            m->h_pos[i] = nonpad ? cum + PAD_ID : PAD_ID;
            m->h_fbuf[i] = b->text_masks[i] ? 0.0f : -10000.0f;
        }
    }
    o->upload(a->text_mask, m->h_fbuf, (size_t)n * sizeof(float));
    /* embeddings: word + position + token_type(0), LayerNorm, dropout */
    o->embedding_forward(a->emb_sum, m->h_ids, m->w.word, n, Dt); // (B,L,Dt)
    o->embedding_forward(a->s.t1, m->h_pos, m->w.tpos, n, Dt);
    o->add_inplace(a->emb_sum, a->s.t1, (size_t)n * Dt);
    o->embedding_forward(a->s.t1, m->h_zeros, m->w.ttype, n, Dt);
    o->add_inplace(a->emb_sum, a->s.t1, (size_t)n * Dt);
    o->layernorm_forward(a->emb_out, a->emb_mean, a->emb_rstd, a->emb_sum, m->w.emb_ln_g, m->w.emb_ln_b, n, Dt,
                         ROBERTA_LN_EPS);
    m3ae_dropout d1, d2;
    const m3ae_dropout *de = mkdrop(m, &d1, b, pass, 0, 0, 0);
    if (de) o->dropout_forward(a->emb_out, a->emb_out, B, (size_t)L * Dt, de);
    const float *x = a->emb_out;
    for (int i = 0; i < c->text_layers; i++) {
        m3ae_bert_attn_forward(o, x, x, &m->w.tattn[i], &a->tattn[i], a->text_mask, B, L, L, Dt, c->text_heads,
                               ROBERTA_LN_EPS, mkdrop(m, &d1, b, pass, 0, i, 1), mkdrop(m, &d2, b, pass, 0, i, 2));
        m3ae_bert_ffn_forward(o, a->tattn[i].out, &m->w.tffn[i], &a->tffn[i], B, L, Dt, c->text_ffn, ROBERTA_LN_EPS,
                              mkdrop(m, &d1, b, pass, 0, i, 5));
        x = a->tffn[i].out;
    }
}

/* d_text (B,L,Dt): gradient of the text encoder output (clobbered). */
static void text_backward(m3ae_model *m, m3ae_pass pass, const m3ae_batch *b) {
    const m3ae_ops *o = m->ops;
    const m3ae_config *c = &m->cfg;
    m3ae_acts *a = &m->a;
    const int B = b->B, L = c->max_text_len, Dt = c->text_width, n = B * L;
    m3ae_dropout d1, d2;
    float *dcur = a->d_text, *dnext = a->d_text2;
    for (int i = c->text_layers - 1; i >= 0; i--) {
        const float *x = i ? a->tffn[i - 1].out : a->emb_out;
        o->zero(a->u1, (size_t)n * Dt);
        m3ae_bert_ffn_backward(o, dcur, a->u1, a->tattn[i].out, &m->w.tffn[i], &m->g.tffn[i], &a->tffn[i], &a->s, B,
                               L, Dt, c->text_ffn, mkdrop(m, &d1, b, pass, 0, i, 5));
        o->zero(dnext, (size_t)n * Dt);
        m3ae_bert_attn_backward(o, a->u1, dnext, dnext, x, x, &m->w.tattn[i], &m->g.tattn[i], &a->tattn[i], &a->s, B,
                                L, L, Dt, c->text_heads, mkdrop(m, &d1, b, pass, 0, i, 1),
                                mkdrop(m, &d2, b, pass, 0, i, 2));
        float *t = dcur;
        dcur = dnext;
        dnext = t;
    }
    const m3ae_dropout *de = mkdrop(m, &d1, b, pass, 0, 0, 0);
    if (de) o->dropout_backward(dcur, dcur, B, (size_t)L * Dt, de);
    o->layernorm_backward(a->s.t1, m->g.emb_ln_g, m->g.emb_ln_b, dcur, a->emb_sum, a->emb_mean, a->emb_rstd,
                          m->w.emb_ln_g, n, Dt, 0);
    /* nn.Embedding(padding_idx=1) in RoBERTa: row <pad> of the word and position tables never
     * learns, also when an MLM random replacement put id 1 inside a caption (spec 8 item 10) */
    o->embedding_backward(m->g.word, a->s.t1, m->h_ids, n, Dt, M3AE_TOKEN_PAD);
    o->embedding_backward(m->g.tpos, a->s.t1, m->h_pos, n, Dt, M3AE_TOKEN_PAD);
    o->embedding_backward(m->g.ttype, a->s.t1, m->h_zeros, n, Dt, -1);
}

/* ---- vision encoder ---- */

static void vision_forward(m3ae_model *m, m3ae_pass pass, const m3ae_batch *b) {
    const m3ae_ops *o = m->ops;
    const m3ae_config *c = &m->cfg;
    m3ae_acts *a = &m->a;
    const int B = b->B, S = c->image_size, P = c->patch_size, N = m3ae_cfg_patches(c), PD = m3ae_cfg_patch_dim(c);
    const int Dv = c->vision_width, keep = m3ae_cfg_mim_keep(c);
    const float *img = pass == M3AE_PASS_ITM ? b->itm_images : b->images;
    o->upload(a->img, img, (size_t)B * 3 * S * S * sizeof(float));
    o->patchify(a->patches, a->img, B, S, S, P, 0);                       // (B,N,PD) in (c,p,q) order
    o->linear_forward(a->s.t1, a->patches, m->w.conv, NULL, B * N, PD, Dv); // conv1 as a GEMM (B,N,Dv)
    for (int s = 0; s < B; s++) {
        float *tok = a->tokens + (size_t)s * (N + 1) * Dv; // (N+1,Dv)
        o->copy(tok, m->w.cls, (size_t)Dv);
        o->copy(tok + Dv, a->s.t1 + (size_t)s * N * Dv, (size_t)N * Dv);
        o->add_inplace(tok, m->w.pos, (size_t)(N + 1) * Dv); /* positions before dropping patches */
    }
    int T = N + 1;
    const float *xin = a->tokens;
    if (pass == M3AE_PASS_MIM || pass == M3AE_PASS_JOINT) { /* keep CLS + the first `keep` patches of ids_shuffle, in that order */
        T = keep + 1;
        for (int s = 0; s < B; s++) {
            m->h_keep_idx[s * T] = 0;
            for (int j = 0; j < keep; j++) m->h_keep_idx[s * T + 1 + j] = 1 + b->mim_ids_shuffle[s * N + j];
        }
        o->gather_rows(a->vis_in, a->tokens, m->h_keep_idx, B, N + 1, T, Dv); // (B,keep+1,Dv)
        xin = a->vis_in;
    }
    m->cur_T = T;
    o->layernorm_forward(a->vis_x[0], a->ln_pre_mean, a->ln_pre_rstd, xin, m->w.ln_pre_g, m->w.ln_pre_b, B * T, Dv,
                         CLIP_LN_EPS);
    for (int i = 0; i < c->vision_layers; i++)
        m3ae_clip_block_forward(o, a->vis_x[i + 1], a->vis_x[i], &m->w.vblk[i], &a->vblk[i], B, T, Dv, c->vision_heads);
    o->layernorm_forward(a->vis_out, a->ln_post_mean, a->ln_post_rstd, a->vis_x[c->vision_layers], m->w.ln_post_g,
                         m->w.ln_post_b, B * T, Dv, CLIP_LN_EPS);
}

/* d_vis (B,T,Dv): gradient of the vision encoder output (clobbered). */
static void vision_backward(m3ae_model *m, m3ae_pass pass, const m3ae_batch *b) {
    const m3ae_ops *o = m->ops;
    const m3ae_config *c = &m->cfg;
    m3ae_acts *a = &m->a;
    const int B = b->B, N = m3ae_cfg_patches(c), PD = m3ae_cfg_patch_dim(c), Dv = c->vision_width, T = m->cur_T;
    const int n = B * T;
    o->layernorm_backward(a->d_vis2, m->g.ln_post_g, m->g.ln_post_b, a->d_vis, a->vis_x[c->vision_layers],
                          a->ln_post_mean, a->ln_post_rstd, m->w.ln_post_g, n, Dv, 0);
    for (int i = c->vision_layers - 1; i >= 0; i--)
        m3ae_clip_block_backward(o, a->d_vis2, a->vis_x[i], &m->w.vblk[i], &m->g.vblk[i], &a->vblk[i], &a->s, B, T, Dv,
                                 c->vision_heads);
    const int masked = pass == M3AE_PASS_MIM || pass == M3AE_PASS_JOINT;
    const float *xin = masked ? a->vis_in : a->tokens;
    o->layernorm_backward(a->d_vis, m->g.ln_pre_g, m->g.ln_pre_b, a->d_vis2, xin, a->ln_pre_mean, a->ln_pre_rstd,
                          m->w.ln_pre_g, n, Dv, 0);
    const float *dtok = a->d_vis;
    if (masked) {
        o->zero(a->d_tokens, (size_t)B * (N + 1) * Dv);
        o->gather_rows_backward(a->d_tokens, a->d_vis, m->h_keep_idx, B, N + 1, T, Dv);
        dtok = a->d_tokens;
    }
    for (int s = 0; s < B; s++) {
        const float *dt = dtok + (size_t)s * (N + 1) * Dv;
        o->add_inplace(m->g.pos, dt, (size_t)(N + 1) * Dv);
        o->add_inplace(m->g.cls, dt, (size_t)Dv);
        o->copy(a->s.t1 + (size_t)s * N * Dv, dt + Dv, (size_t)N * Dv);
    }
    o->linear_backward(NULL, m->g.conv, NULL, a->s.t1, a->patches, m->w.conv, B * N, PD, Dv, 0);
}

/* ---- fusion ---- */

static void fusion_forward(m3ae_model *m, m3ae_pass pass, const m3ae_batch *b) {
    const m3ae_ops *o = m->ops;
    const m3ae_config *c = &m->cfg;
    m3ae_acts *a = &m->a;
    const int B = b->B, L = c->max_text_len, T = m->cur_T, H = c->hidden_size, F = m3ae_cfg_fusion_ffn(c);
    const int nh = c->num_heads;
    /* projections + modality type embeddings (0 text, 1 image) */
    o->linear_forward(a->S0[0], a->tffn[c->text_layers - 1].out, m->w.proj_w[0], m->w.proj_b[0], B * L,
                      c->text_width, H); // (B,L,H)
    o->embedding_forward(a->s.t1, m->h_zeros, m->w.type_emb, B * L, H);
    o->add_inplace(a->S0[0], a->s.t1, (size_t)B * L * H);
    o->linear_forward(a->S0[1], a->vis_out, m->w.proj_w[1], m->w.proj_b[1], B * T, c->vision_width, H); // (B,T,H)
    o->embedding_forward(a->s.t1, m->h_ones, m->w.type_emb, B * T, H);
    o->add_inplace(a->S0[1], a->s.t1, (size_t)B * T * H);
    m3ae_dropout d1, d2;
    for (int i = 0; i < c->num_top_layer; i++) {
        const float *X = stream_at(m, 0, i), *Y = stream_at(m, 1, i); /* both read the previous level */
        /* text layer: queries text, context image (no image mask) */
        m3ae_bert_attn_forward(o, X, X, &m->w.fself[0][i], &a->fself[0][i], a->text_mask, B, L, L, H, nh, FUSION_LN_EPS,
                               mkdrop(m, &d1, b, pass, 1, i, 1), mkdrop(m, &d2, b, pass, 1, i, 2));
        m3ae_bert_attn_forward(o, a->fself[0][i].out, Y, &m->w.fcross[0][i], &a->fcross[0][i], NULL, B, L, T, H, nh,
                               FUSION_LN_EPS, mkdrop(m, &d1, b, pass, 1, i, 3), mkdrop(m, &d2, b, pass, 1, i, 4));
        m3ae_bert_ffn_forward(o, a->fcross[0][i].out, &m->w.fffn[0][i], &a->fffn[0][i], B, L, H, F, FUSION_LN_EPS,
                              mkdrop(m, &d1, b, pass, 1, i, 5));
        /* image layer: queries image, context text (text padding mask) */
        m3ae_bert_attn_forward(o, Y, Y, &m->w.fself[1][i], &a->fself[1][i], NULL, B, T, T, H, nh, FUSION_LN_EPS,
                               mkdrop(m, &d1, b, pass, 2, i, 1), mkdrop(m, &d2, b, pass, 2, i, 2));
        m3ae_bert_attn_forward(o, a->fself[1][i].out, X, &m->w.fcross[1][i], &a->fcross[1][i], a->text_mask, B, T, L,
                               H, nh, FUSION_LN_EPS, mkdrop(m, &d1, b, pass, 2, i, 3), mkdrop(m, &d2, b, pass, 2, i, 4));
        m3ae_bert_ffn_forward(o, a->fcross[1][i].out, &m->w.fffn[1][i], &a->fffn[1][i], B, T, H, F, FUSION_LN_EPS,
                              mkdrop(m, &d1, b, pass, 2, i, 5));
    }
    /* poolers: tanh(Linear(token 0)) of each stream; cls = [text, image] (B,2H) */
    const int Ts[2] = {L, T};
    for (int s = 0; s < 2; s++) {
        o->copy_rows(a->pool_in[s], H, stream_at(m, s, c->num_top_layer), Ts[s] * H, B, H); // (B,H)
        o->linear_forward(a->pool_pre[s], a->pool_in[s], m->w.pool_w[s], m->w.pool_b[s], B, H, H);
        o->tanh_forward(a->pool_out[s], a->pool_pre[s], (size_t)B * H);
        o->copy_rows(a->cls + s * H, 2 * H, a->pool_out[s], H, B, H);
    }
}

/* Backward through fusion layers level-1 .. 0, starting from gradients dS[cur][s] of the streams at
 * `level` (has[s] says which are non-zero); `inj` (or NULL) is a gradient of the image stream at
 * level inj_level added on the way (the MIM head in the joint pass). Ends with the projection
 * backward into d_text / d_vis for the streams that have a gradient. */
static void fusion_backward(m3ae_model *m, m3ae_pass pass, const m3ae_batch *b, int level, int cur, int has[2],
                            const float *inj, int inj_level) {
    const m3ae_ops *o = m->ops;
    const m3ae_config *c = &m->cfg;
    m3ae_acts *a = &m->a;
    const int B = b->B, L = c->max_text_len, T = m->cur_T, H = c->hidden_size, F = m3ae_cfg_fusion_ffn(c);
    const int nh = c->num_heads, Ts[2] = {L, T};
    m3ae_dropout d1, d2;
    for (int lv = level;; lv--) {
        if (inj && lv == inj_level) {
            if (has[1])
                o->add_inplace(a->dS[cur][1], inj, (size_t)B * T * H);
            else
                o->copy(a->dS[cur][1], inj, (size_t)B * T * H);
            has[1] = 1;
        }
        if (lv == 0) break;
        const int i = lv - 1, nxt = 1 - cur;
        o->zero(a->dS[nxt][0], (size_t)B * L * H);
        o->zero(a->dS[nxt][1], (size_t)B * T * H);
        for (int s = 0; s < 2; s++) {
            if (!has[s]) continue;
            const int other = 1 - s, Tq = Ts[s], Tk = Ts[other], st = 1 + s;
            const float *X = stream_at(m, s, i), *C = stream_at(m, other, i);
            o->zero(a->u1, (size_t)B * Tq * H);
            m3ae_bert_ffn_backward(o, a->dS[cur][s], a->u1, a->fcross[s][i].out, &m->w.fffn[s][i], &m->g.fffn[s][i],
                                   &a->fffn[s][i], &a->s, B, Tq, H, F, mkdrop(m, &d1, b, pass, st, i, 5));
            o->zero(a->u2, (size_t)B * Tq * H);
            m3ae_bert_attn_backward(o, a->u1, a->u2, a->dS[nxt][other], a->fself[s][i].out, C, &m->w.fcross[s][i],
                                    &m->g.fcross[s][i], &a->fcross[s][i], &a->s, B, Tq, Tk, H, nh,
                                    mkdrop(m, &d1, b, pass, st, i, 3), mkdrop(m, &d2, b, pass, st, i, 4));
            m3ae_bert_attn_backward(o, a->u2, a->dS[nxt][s], a->dS[nxt][s], X, X, &m->w.fself[s][i],
                                    &m->g.fself[s][i], &a->fself[s][i], &a->s, B, Tq, Tq, H, nh,
                                    mkdrop(m, &d1, b, pass, st, i, 1), mkdrop(m, &d2, b, pass, st, i, 2));
        }
        const int any = has[0] || has[1];
        has[0] = has[1] = any;
        cur = nxt;
    }
    /* projections and type embeddings */
    if (has[0]) {
        o->embedding_backward(m->g.type_emb, a->dS[cur][0], m->h_zeros, B * L, H, -1);
        o->linear_backward(a->d_text, m->g.proj_w[0], m->g.proj_b[0], a->dS[cur][0], a->tffn[c->text_layers - 1].out,
                           m->w.proj_w[0], B * L, c->text_width, H, 0);
    }
    if (has[1]) {
        o->embedding_backward(m->g.type_emb, a->dS[cur][1], m->h_ones, B * T, H, -1);
        o->linear_backward(a->d_vis, m->g.proj_w[1], m->g.proj_b[1], a->dS[cur][1], a->vis_out, m->w.proj_w[1], B * T,
                           c->vision_width, H, 0);
    }
}

/* ---- heads ---- */

/* The MLM head (spec 1.6) on the rows h_mlm_rows of the final text stream: every position, or
 * (default) only the predicted ones, which gives the same loss and gradients. */
static double mlm_forward(m3ae_model *m, const m3ae_batch *b) {
    const m3ae_ops *o = m->ops;
    const m3ae_config *c = &m->cfg;
    m3ae_acts *a = &m->a;
    const int B = b->B, L = c->max_text_len, H = c->hidden_size, V = c->vocab_size;
    int n = 0, local = 0;
    for (int i = 0; i < B * L; i++) {
        local += b->mlm_labels[i] != -100;
        if (m->mlm_all_positions || b->mlm_labels[i] != -100) m->h_mlm_rows[n] = i, m->h_labels[n++] = b->mlm_labels[i];
    }
    m->mlm_rows = n;
    double denom = b->mlm_denom > 0 ? b->mlm_denom : local;
    m->denom[M3AE_PASS_MLM] = denom;
    m->last.mlm_count = 0, m->last.mlm_correct = 0, m->last.mlm = 0.0;
    if (n == 0) return 0.0;
    const float *X = stream_at(m, 0, c->num_top_layer);                  // (B,L,H)
    o->gather_rows(a->mlm_x, X, m->h_mlm_rows, 1, B * L, n, H);          // (n,H)
    o->linear_forward(a->mlm_h, a->mlm_x, m->w.mlm_dense_w, m->w.mlm_dense_b, n, H, H); // (n,H)
    o->gelu_forward(a->mlm_g, a->mlm_h, (size_t)n * H);
    o->layernorm_forward(a->mlm_ln, a->mlm_mean, a->mlm_rstd, a->mlm_g, m->w.mlm_ln_g, m->w.mlm_ln_b, n, H,
                         FUSION_LN_EPS);
    o->linear_forward(a->mlm_logits, a->mlm_ln, m->w.mlm_dec_w, m->w.mlm_bias, n, H, V); // (n,V)
    o->upload(a->mlm_labels, m->h_labels, (size_t)n * sizeof(int32_t));
    int count = 0, correct = 0;
    double sum = o->cross_entropy(a->mlm_dlogits, a->mlm_logits, a->mlm_labels, n, V, -100,
                                  denom > 0 ? (float)(1.0 / denom) : 0.0f, &count, &correct);
    m->last.mlm_count = count;
    m->last.mlm_correct = correct;
    m->last.mlm = denom > 0 ? sum / denom : 0.0;
    return m->last.mlm;
}

/* dX (B,L,H) is written: zero except at the head's rows. */
static void mlm_backward(m3ae_model *m, const m3ae_batch *b, float *dX) {
    const m3ae_ops *o = m->ops;
    const m3ae_config *c = &m->cfg;
    m3ae_acts *a = &m->a;
    const int B = b->B, L = c->max_text_len, H = c->hidden_size, V = c->vocab_size, n = m->mlm_rows;
    o->zero(dX, (size_t)B * L * H);
    if (n == 0) return;
    o->linear_backward(a->s.t1, m->g.mlm_dec_w, m->g.mlm_bias, a->mlm_dlogits, a->mlm_ln, m->w.mlm_dec_w, n, H, V, 0);
    o->layernorm_backward(a->s.t2, m->g.mlm_ln_g, m->g.mlm_ln_b, a->s.t1, a->mlm_g, a->mlm_mean, a->mlm_rstd,
                          m->w.mlm_ln_g, n, H, 0);
    o->gelu_backward(a->s.t2, a->s.t2, a->mlm_h, (size_t)n * H);
    o->linear_backward(a->s.t1, m->g.mlm_dense_w, m->g.mlm_dense_b, a->s.t2, a->mlm_x, m->w.mlm_dense_w, n, H, H, 0);
    o->gather_rows_backward(dX, a->s.t1, m->h_mlm_rows, 1, B * L, n, H);
}

static double mim_forward(m3ae_model *m, const m3ae_batch *b) {
    const m3ae_ops *o = m->ops;
    const m3ae_config *c = &m->cfg;
    m3ae_acts *a = &m->a;
    const int B = b->B, N = m3ae_cfg_patches(c), PD = m3ae_cfg_patch_dim(c), keep = m3ae_cfg_mim_keep(c);
    const int H = c->hidden_size, Dd = c->mim_decoder_hidden_size, Tk = keep + 1, E = keep + 2, T = N + 1;
    const float *Y = stream_at(m, 1, c->mim_layer); // (B,keep+1,H)
    /* decoder_embed, then [embedded tokens..., mask_token] per sample: (B,keep+2,Dd) */
    o->linear_forward(a->s.t1, Y, m->w.dec_embed_w, m->w.dec_embed_b, B * Tk, H, Dd);
    for (int s = 0; s < B; s++) {
        o->copy(a->mim_ext + (size_t)s * E * Dd, a->s.t1 + (size_t)s * Tk * Dd, (size_t)Tk * Dd);
        o->copy(a->mim_ext + ((size_t)s * E + Tk) * Dd, m->w.mask_token, (size_t)Dd);
    }
    /* un-shuffle: CLS, then patch j <- its kept token (ids_restore[j] < keep) or the mask token */
    for (int s = 0; s < B; s++) {
        int32_t *u = m->h_unshuf + (size_t)s * T;
        float *mask = m->h_fbuf + (size_t)s * N;
        u[0] = 0;
        for (int j = 0; j < N; j++) mask[j] = 1.0f;
        for (int r = 0; r < N; r++) {
            int j = b->mim_ids_shuffle[s * N + r];
            u[1 + j] = r < keep ? 1 + r : Tk;
            if (r < keep) mask[j] = 0.0f;
        }
    }
    o->upload(a->mim_mask, m->h_fbuf, (size_t)B * N * sizeof(float));
    o->gather_rows(a->dec_x[0], a->mim_ext, m->h_unshuf, B, E, T, Dd); // (B,N+1,Dd)
    for (int s = 0; s < B; s++) o->add_inplace(a->dec_x[0] + (size_t)s * T * Dd, m->w.dec_pos, (size_t)T * Dd);
    for (int i = 0; i < c->mim_decoder_num_layers; i++)
        m3ae_clip_block_forward(o, a->dec_x[i + 1], a->dec_x[i], &m->w.dblk[i], &a->dblk[i], B, T, Dd,
                                c->mim_decoder_num_heads);
    o->layernorm_forward(a->dec_norm, a->dec_mean, a->dec_rstd, a->dec_x[c->mim_decoder_num_layers], m->w.dec_norm_g,
                         m->w.dec_norm_b, B * T, Dd, CLIP_LN_EPS);
    for (int s = 0; s < B; s++) /* decoder_pred on the patch tokens (CLS dropped): (B,N,PD) */
        o->linear_forward(a->mim_pred + (size_t)s * N * PD, a->dec_norm + ((size_t)s * T + 1) * Dd, m->w.dec_pred_w,
                          m->w.dec_pred_b, N, Dd, PD);
    /* target: patchify (p,q,c) of the input image, normalised per patch (unbiased var + 1e-6) */
    o->patchify(a->mim_target, a->img, B, c->image_size, c->image_size, c->patch_size, 1);
    o->patch_normalize(a->mim_target, B * N, PD, 1e-6f);
    double local = (double)B * (N - keep);
    double denom = b->mim_denom > 0 ? b->mim_denom : local;
    m->denom[M3AE_PASS_MIM] = denom;
    double sum = o->mim_loss(a->mim_dpred, a->mim_pred, a->mim_target, a->mim_mask, B * N, PD,
                             denom > 0 ? (float)(1.0 / denom) : 0.0f);
    m->last.mim_count = local;
    m->last.mim = denom > 0 ? sum / denom : 0.0;
    return m->last.mim;
}

static void mim_backward(m3ae_model *m, const m3ae_batch *b, float *dY) {
    const m3ae_ops *o = m->ops;
    const m3ae_config *c = &m->cfg;
    m3ae_acts *a = &m->a;
    const int B = b->B, N = m3ae_cfg_patches(c), PD = m3ae_cfg_patch_dim(c), keep = m3ae_cfg_mim_keep(c);
    const int H = c->hidden_size, Dd = c->mim_decoder_hidden_size, Tk = keep + 1, E = keep + 2, T = N + 1;
    o->zero(a->d_dec, (size_t)B * T * Dd);
    for (int s = 0; s < B; s++)
        o->linear_backward(a->d_dec + ((size_t)s * T + 1) * Dd, m->g.dec_pred_w, m->g.dec_pred_b,
                           a->mim_dpred + (size_t)s * N * PD, a->dec_norm + ((size_t)s * T + 1) * Dd, m->w.dec_pred_w, N,
                           Dd, PD, 0);
    o->layernorm_backward(a->d_dec2, m->g.dec_norm_g, m->g.dec_norm_b, a->d_dec, a->dec_x[c->mim_decoder_num_layers],
                          a->dec_mean, a->dec_rstd, m->w.dec_norm_g, B * T, Dd, 0);
    for (int i = c->mim_decoder_num_layers - 1; i >= 0; i--)
        m3ae_clip_block_backward(o, a->d_dec2, a->dec_x[i], &m->w.dblk[i], &m->g.dblk[i], &a->dblk[i], &a->s, B, T, Dd,
                                 c->mim_decoder_num_heads);
    /* decoder_pos_embed is fixed: no gradient */
    o->zero(a->d_ext, (size_t)B * E * Dd);
    o->gather_rows_backward(a->d_ext, a->d_dec2, m->h_unshuf, B, E, T, Dd);
    for (int s = 0; s < B; s++) {
        o->add_inplace(m->g.mask_token, a->d_ext + ((size_t)s * E + Tk) * Dd, (size_t)Dd);
        o->copy(a->s.t1 + (size_t)s * Tk * Dd, a->d_ext + (size_t)s * E * Dd, (size_t)Tk * Dd);
    }
    o->linear_backward(dY, m->g.dec_embed_w, m->g.dec_embed_b, a->s.t1, stream_at(m, 1, c->mim_layer),
                       m->w.dec_embed_w, B * Tk, H, Dd, 0);
}

static double itm_forward(m3ae_model *m, const m3ae_batch *b) {
    const m3ae_ops *o = m->ops;
    m3ae_acts *a = &m->a;
    const int B = b->B, H = m->cfg.hidden_size;
    o->linear_forward(a->itm_logits, a->cls, m->w.itm_w, m->w.itm_b, B, 2 * H, 2); // (B,2)
    for (int s = 0; s < B; s++) m->h_itm_labels[s] = b->itm_labels[s];
    o->upload(a->itm_labels, m->h_itm_labels, (size_t)B * sizeof(int32_t));
    double denom = b->itm_denom > 0 ? b->itm_denom : B;
    m->denom[M3AE_PASS_ITM] = denom;
    int count = 0, correct = 0;
    double sum = o->cross_entropy(a->itm_dlogits, a->itm_logits, a->itm_labels, B, 2, -100, (float)(1.0 / denom),
                                  &count, &correct);
    m->last.itm_correct = correct;
    m->last.itm = sum / denom;
    return m->last.itm;
}

/* Writes the gradients of both top fusion streams (only token 0 is non-zero). */
static void itm_backward(m3ae_model *m, const m3ae_batch *b, float *dX, float *dY) {
    const m3ae_ops *o = m->ops;
    m3ae_acts *a = &m->a;
    const int B = b->B, H = m->cfg.hidden_size, Ts[2] = {m->cfg.max_text_len, m->cur_T};
    float *dS[2] = {dX, dY};
    o->linear_backward(a->d_cls, m->g.itm_w, m->g.itm_b, a->itm_dlogits, a->cls, m->w.itm_w, B, 2 * H, 2, 0);
    for (int s = 0; s < 2; s++) {
        o->copy_rows(a->s.t1, H, a->d_cls + s * H, 2 * H, B, H); // (B,H)
        o->tanh_backward(a->s.t1, a->s.t1, a->pool_out[s], (size_t)B * H);
        o->linear_backward(a->s.t2, m->g.pool_w[s], m->g.pool_b[s], a->s.t1, a->pool_in[s], m->w.pool_w[s], B, H, H, 0);
        o->zero(dS[s], (size_t)B * Ts[s] * H);
        o->copy_rows(dS[s], Ts[s] * H, a->s.t2, H, B, H);
    }
}

/* ---- the passes ---- */

double m3ae_model_forward(m3ae_model *m, m3ae_pass pass, const m3ae_batch *b) {
    check_batch(m, pass, b);
    for (int s = 0; s < b->B; s++) m->h_sample_ids[s] = b->sample_ids ? b->sample_ids[s] : s;
    m->cur_B = b->B;
    m->cur_pass = pass;
    text_forward(m, pass, b);
    vision_forward(m, pass, b);
    fusion_forward(m, pass, b);
    switch (pass) {
    case M3AE_PASS_MLM: return mlm_forward(m, b);
    case M3AE_PASS_MIM: return mim_forward(m, b);
    case M3AE_PASS_ITM: return itm_forward(m, b);
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
    case M3AE_PASS_JOINT:
        mlm_backward(m, b, a->dS[0][0]);
        mim_backward(m, b, a->d_inj);
        has[0] = 1;
        break;
    }
    fusion_backward(m, pass, b, level, 0, has, pass == M3AE_PASS_JOINT ? a->d_inj : NULL, m->cfg.mim_layer);
    if (has[0]) text_backward(m, pass, b);
    if (has[1]) vision_backward(m, pass, b);
}

void m3ae_model_step(m3ae_model *m, const m3ae_batch *b, m3ae_losses *losses) {
    static const m3ae_pass separate[3] = {M3AE_PASS_MLM, M3AE_PASS_MIM, M3AE_PASS_ITM};
    static const m3ae_pass joint[2] = {M3AE_PASS_JOINT, M3AE_PASS_ITM};
    const int nj = m->cfg.objective == M3AE_OBJECTIVE_JOINT;
    const m3ae_pass *passes = nj ? joint : separate;
    double total = 0;
    for (int p = 0; p < (nj ? 2 : 3); p++) {
        total += m3ae_model_forward(m, passes[p], b);
        m3ae_model_backward(m, passes[p], b);
    }
    m->last.total = total;
    if (losses) *losses = m->last;
}

void m3ae_model_last_losses(const m3ae_model *m, m3ae_losses *losses) { *losses = m->last; }
