/* The analytic FLOP model (spec section 7), generalised to any configuration: the official-
 * equivalent count and the work count of this model's passes (model/flops.h). */
#include "model/flops.h"

#include <string.h>

/* MACs of a pre/post-LN encoder layer over n tokens of width d with FFN f. */
static double encoder_layer(double n, double d, double f) { return n * (4 * d * d + 2 * d * f) + 2 * n * n * d; }

/* MACs of a fusion layer with nq query tokens and nc context tokens. */
static double fusion_layer(double nq, double nc, double h, double f) {
    return nq * 4 * h * h + 2 * nq * nq * h + nq * 2 * h * h + nc * 2 * h * h + 2 * nq * nc * h + nq * 2 * h * f;
}

/* FLOP of the MLM head (transform dense + decoder) on `rows` positions. */
static double mlm_head(const m3ae_config *c, double rows) {
    const double H = c->hidden_size, V = c->vocab_size;
    return 2 * (rows * H * H + rows * H * V);
}

void m3ae_flops_compute(const m3ae_config *c, m3ae_flops *fl) {
    memset(fl, 0, sizeof *fl);
    const double L = c->max_text_len, N = m3ae_cfg_patches(c), keep = m3ae_cfg_mim_keep(c);
    const double Dv = c->vision_width, Dt = c->text_width, H = c->hidden_size, Dd = c->mim_decoder_hidden_size;
    const double PD = m3ae_cfg_patch_dim(c), F = m3ae_cfg_fusion_ffn(c);
    fl->text = 2 * c->text_layers * encoder_layer(L, Dt, c->text_ffn);
    for (int p = 0; p < 3; p++) {
        double T = p == 1 ? keep + 1 : N + 1;
        fl->vision[p] = 2 * (c->vision_layers * encoder_layer(T, Dv, 4 * Dv) + N * Dv * PD);
        fl->proj_pool[p] = 2 * (L * Dt * H + T * Dv * H + 2 * H * H);
        fl->fusion[p] = 2 * c->num_top_layer * (fusion_layer(L, T, H, F) + fusion_layer(T, L, H, F));
    }
    fl->head[0] = mlm_head(c, L);
    fl->head[1] = 2 * ((keep + 1) * H * Dd + c->mim_decoder_num_layers * encoder_layer(N + 1, Dd, 4 * Dd) +
                       (N + 1) * Dd * PD);
    fl->head[2] = 2 * (2 * H * 2);
    for (int p = 0; p < 3; p++) {
        fl->forward[p] = fl->text + fl->vision[p] + fl->proj_pool[p] + fl->fusion[p] + fl->head[p];
    }
    if (c->objective == M3AE_OBJECTIVE_JOINT) { /* one masked pass with both heads, then ITM */
        fl->forward[0] = fl->text + fl->vision[1] + fl->proj_pool[1] + fl->fusion[1] + fl->head[0] + fl->head[1];
        fl->forward[1] = 0;
    }
    for (int p = 0; p < 3; p++) fl->forward_total += fl->forward[p];
    fl->train_total = 3 * fl->forward_total;
}

enum { TEXT = 1, IMAGE = 2 };
enum { PASS_MLM = 0, PASS_MIM = 1, PASS_ITM = 2, PASS_JOINT = 3, PASS_VQA = 4, PASS_CLS = 5, PASS_IRTR = 6 }; /* model/m3ae.h m3ae_pass */

int m3ae_flops_reaches(const m3ae_config *c, int pass, int stream, int layer) {
    /* as m3ae_model_backward / fusion_backward: the head's gradient enters the streams `has` at
     * fusion level `level` (level i = the input of fusion layer i); in the joint pass the MIM
     * head's joins the image stream at mim_layer */
    const int top = c->num_top_layer;
    int level = pass == PASS_MIM ? c->mim_layer : top;
    int has = pass == PASS_MIM ? IMAGE : (pass == PASS_ITM || pass == PASS_VQA || pass == PASS_CLS || pass == PASS_IRTR) ? TEXT | IMAGE : TEXT; /* pooled heads */
    int inj = pass == PASS_JOINT ? c->mim_layer : -1;
    const int bit = stream ? IMAGE : TEXT;
    for (int lv = level;; lv--) {
        if (lv == inj) has |= IMAGE;
        if (lv == 0) break;
        if (lv - 1 == layer) return (has & bit) != 0;
        if (has) has = TEXT | IMAGE; /* cross-attention carries the gradient into the other stream */
    }
    return layer < 0 && (has & bit) != 0;
}

/* Backward FLOP below the heads of one pass over T image tokens: 2 x forward of every reached
 * product, but the patch conv's weight gradient only (the pixels learn nothing). */
static double backward_below_heads(const m3ae_config *c, int pass, double T) {
    const double L = c->max_text_len, N = m3ae_cfg_patches(c), Dv = c->vision_width, Dt = c->text_width;
    const double H = c->hidden_size, PD = m3ae_cfg_patch_dim(c), F = m3ae_cfg_fusion_ffn(c);
    double b = 0;
    for (int i = 0; i < c->num_top_layer; i++) {
        if (m3ae_flops_reaches(c, pass, 0, i)) b += 2 * 2 * fusion_layer(L, T, H, F);
        if (m3ae_flops_reaches(c, pass, 1, i)) b += 2 * 2 * fusion_layer(T, L, H, F);
    }
    if (m3ae_flops_reaches(c, pass, 0, -1)) /* the first layer's input gradient included: embeddings learn */
        b += 2 * 2 * L * Dt * H + 2 * 2 * c->text_layers * encoder_layer(L, Dt, c->text_ffn);
    if (m3ae_flops_reaches(c, pass, 1, -1))
        b += 2 * 2 * T * Dv * H + 2 * 2 * c->vision_layers * encoder_layer(T, Dv, 4 * Dv) + 2 * N * Dv * PD;
    return b;
}

void m3ae_flops_work_compute(const m3ae_config *c, double mlm_rows, m3ae_flops_work *w) {
    memset(w, 0, sizeof *w);
    m3ae_flops o;
    m3ae_flops_compute(c, &o);
    const double N = m3ae_cfg_patches(c), keep = m3ae_cfg_mim_keep(c), H = c->hidden_size;
    const double pool = 2 * 2 * H * H; /* both poolers, forward */
    w->mlm_rows = mlm_rows;
    w->mlm_head_forward = mlm_head(c, mlm_rows);
    w->mlm_head_backward = 2 * w->mlm_head_forward;
    /* the forward of every pass runs all of it (fusion to the top, the poolers); only the MLM head
     * differs from the official count */
    for (int p = 0; p < 3; p++) w->forward[p] = o.forward[p];
    w->forward[0] += w->mlm_head_forward - o.head[0];
    if (c->objective == M3AE_OBJECTIVE_JOINT) { /* the MIM head's gradient joins at mim_layer */
        w->backward[0] = w->mlm_head_backward + 2 * o.head[1] + backward_below_heads(c, PASS_JOINT, keep + 1);
    } else {
        w->backward[0] = w->mlm_head_backward + backward_below_heads(c, PASS_MLM, N + 1);
        w->backward[1] = 2 * o.head[1] + backward_below_heads(c, PASS_MIM, keep + 1);
    }
    w->backward[2] = 2 * o.head[2] + 2 * pool + backward_below_heads(c, PASS_ITM, N + 1);
    for (int p = 0; p < 3; p++) w->forward_total += w->forward[p], w->backward_total += w->backward[p];
    w->train_total = w->forward_total + w->backward_total;
}
