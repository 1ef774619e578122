/* The analytic FLOP model (spec section 7), generalised to any configuration. */
#include "model/flops.h"

#include <string.h>

/* MACs of a pre/post-LN encoder layer over n tokens of width d with FFN f. */
static double encoder_layer(double n, double d, double f) { return n * (4 * d * d + 2 * d * f) + 2 * n * n * d; }

/* MACs of a fusion layer with nq query tokens and nc context tokens. */
static double fusion_layer(double nq, double nc, double h, double f) {
    return nq * 4 * h * h + 2 * nq * nq * h + nq * 2 * h * h + nc * 2 * h * h + 2 * nq * nc * h + nq * 2 * h * f;
}

void m3ae_flops_compute(const m3ae_config *c, m3ae_flops *fl) {
    memset(fl, 0, sizeof *fl);
    const double L = c->max_text_len, N = m3ae_cfg_patches(c), keep = m3ae_cfg_mim_keep(c);
    const double Dv = c->vision_width, Dt = c->text_width, H = c->hidden_size, Dd = c->mim_decoder_hidden_size;
    const double V = c->vocab_size, PD = m3ae_cfg_patch_dim(c), F = m3ae_cfg_fusion_ffn(c);
    fl->text = 2 * c->text_layers * encoder_layer(L, Dt, c->text_ffn);
    for (int p = 0; p < 3; p++) {
        double T = p == 1 ? keep + 1 : N + 1;
        fl->vision[p] = 2 * (c->vision_layers * encoder_layer(T, Dv, 4 * Dv) + N * Dv * PD);
        fl->proj_pool[p] = 2 * (L * Dt * H + T * Dv * H + 2 * H * H);
        fl->fusion[p] = 2 * c->num_top_layer * (fusion_layer(L, T, H, F) + fusion_layer(T, L, H, F));
    }
    fl->head[0] = 2 * (L * H * H + L * H * V);
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
