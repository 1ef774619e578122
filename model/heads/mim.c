/* The MIM head's tensors (mim.h): the only place in model/ that spells its names. */
#include "model/heads/mim.h"

#include <stdio.h>

#include "model/backbone.h"

void m3ae_mim_head_tensors(m3ae_tensor_builder *b, const m3ae_config *c, m3ae_mim_w *w) {
    const int64_t H = c->hidden_size, Dd = c->mim_decoder_hidden_size, N = m3ae_cfg_patches(c);
    char s[M3AE_PARAM_NAME_LEN];
    m3ae_builder_section(b, M3AE_MOD_MIM_HEAD, M3AE_BWD_MIM_HEAD);
    m3ae_builder_group(b, M3AE_GG_MIM_IN, 0, 0);
    m3ae_tensor(b, M3AE_SLOT(w, mask_token), M3AE_TRAINABLE, M3AE_INIT_NORMAL, M3AE_S3(1, 1, Dd), "mim_head.mask_token");
    m3ae_tensor(b, M3AE_SLOT(w, dec_pos), M3AE_FIXED, M3AE_INIT_SINCOS, M3AE_S3(1, N + 1, Dd),
                "mim_head.decoder_pos_embed");
    m3ae_linear_tensors(b, M3AE_SLOT(w, embed_w), M3AE_SLOT(w, embed_b), Dd, H, "mim_head.decoder_embed");
    for (int i = 0; i < c->mim_decoder_num_layers; i++) {
        m3ae_builder_group(b, M3AE_GG_MIM_BLOCK, 0, i);
        snprintf(s, sizeof s, "mim_head.decoder.resblocks.%d", i);
        m3ae_clip_block_tensors(b, w ? &w->blk[i] : NULL, Dd, s);
    }
    m3ae_builder_group(b, M3AE_GG_MIM_OUT, 0, 0);
    m3ae_layernorm_tensors(b, M3AE_SLOT(w, norm_g), M3AE_SLOT(w, norm_b), Dd, "mim_head.decoder_norm");
    m3ae_linear_tensors(b, M3AE_SLOT(w, pred_w), M3AE_SLOT(w, pred_b), m3ae_cfg_patch_dim(c), Dd,
                        "mim_head.decoder_pred");
}
