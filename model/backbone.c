/* The backbone's tensor functions (backbone.h): each name of CLIP visual, RoBERTa, the projections,
 * the fusion layers and poolers is spelled here and nowhere else in model/. */
#include "model/backbone.h"

#include <stdio.h>

/* prefix + "." + part into s (the sub-module prefix of a tensors call). */
static const char *sub(char *s, size_t n, const char *prefix, const char *part) {
    snprintf(s, n, "%s.%s", prefix, part);
    return s;
}

void m3ae_clip_block_tensors(m3ae_tensor_builder *b, m3ae_clip_w *w, int64_t width, const char *prefix) {
    char s[M3AE_PARAM_NAME_LEN];
    m3ae_tensor(b, M3AE_SLOT(w, in_w), M3AE_TRAINABLE, M3AE_INIT_XAVIER_UNIFORM, M3AE_S2(3 * width, width),
                "%s.attn.in_proj_weight", prefix);
    m3ae_tensor(b, M3AE_SLOT(w, in_b), M3AE_TRAINABLE, M3AE_INIT_ZEROS, M3AE_S1(3 * width), "%s.attn.in_proj_bias",
                prefix);
    m3ae_linear_tensors(b, M3AE_SLOT(w, out_w), M3AE_SLOT(w, out_b), width, width, sub(s, sizeof s, prefix, "attn.out_proj"));
    m3ae_layernorm_tensors(b, M3AE_SLOT(w, ln1_g), M3AE_SLOT(w, ln1_b), width, sub(s, sizeof s, prefix, "ln_1"));
    m3ae_linear_tensors(b, M3AE_SLOT(w, fc_w), M3AE_SLOT(w, fc_b), 4 * width, width, sub(s, sizeof s, prefix, "mlp.c_fc"));
    m3ae_linear_tensors(b, M3AE_SLOT(w, proj_w), M3AE_SLOT(w, proj_b), width, 4 * width,
                        sub(s, sizeof s, prefix, "mlp.c_proj"));
    m3ae_layernorm_tensors(b, M3AE_SLOT(w, ln2_g), M3AE_SLOT(w, ln2_b), width, sub(s, sizeof s, prefix, "ln_2"));
}

void m3ae_bert_attn_tensors(m3ae_tensor_builder *b, m3ae_bert_attn_w *w, int64_t width, const char *prefix) {
    char s[M3AE_PARAM_NAME_LEN];
    m3ae_linear_tensors(b, M3AE_SLOT(w, q_w), M3AE_SLOT(w, q_b), width, width, sub(s, sizeof s, prefix, "self.query"));
    m3ae_linear_tensors(b, M3AE_SLOT(w, k_w), M3AE_SLOT(w, k_b), width, width, sub(s, sizeof s, prefix, "self.key"));
    m3ae_linear_tensors(b, M3AE_SLOT(w, v_w), M3AE_SLOT(w, v_b), width, width, sub(s, sizeof s, prefix, "self.value"));
    m3ae_linear_tensors(b, M3AE_SLOT(w, o_w), M3AE_SLOT(w, o_b), width, width, sub(s, sizeof s, prefix, "output.dense"));
    m3ae_layernorm_tensors(b, M3AE_SLOT(w, ln_g), M3AE_SLOT(w, ln_b), width, sub(s, sizeof s, prefix, "output.LayerNorm"));
}

void m3ae_bert_ffn_tensors(m3ae_tensor_builder *b, m3ae_bert_ffn_w *w, int64_t width, int64_t ffn,
                           const char *prefix) {
    char s[M3AE_PARAM_NAME_LEN];
    m3ae_linear_tensors(b, M3AE_SLOT(w, i_w), M3AE_SLOT(w, i_b), ffn, width,
                        sub(s, sizeof s, prefix, "intermediate.dense"));
    m3ae_linear_tensors(b, M3AE_SLOT(w, o_w), M3AE_SLOT(w, o_b), width, ffn, sub(s, sizeof s, prefix, "output.dense"));
    m3ae_layernorm_tensors(b, M3AE_SLOT(w, ln_g), M3AE_SLOT(w, ln_b), width, sub(s, sizeof s, prefix, "output.LayerNorm"));
}

/* Element i of a per-layer array of w, or NULL without w. */
#define ELEM(w, f, i) ((w) ? &(w)->f[i] : NULL)

static void vision_tensors(m3ae_tensor_builder *b, const m3ae_config *c, m3ae_weights *w) {
    const int64_t P = c->patch_size, N = m3ae_cfg_patches(c), Dv = c->vision_width;
    char s[M3AE_PARAM_NAME_LEN];
    m3ae_builder_section(b, M3AE_MOD_VISION, M3AE_BWD_VISION);
    m3ae_builder_group(b, M3AE_GG_VISION_EMB, 0, 0);
    m3ae_tensor(b, M3AE_SLOT(w, cls), M3AE_TRAINABLE, M3AE_INIT_NORMAL_WIDTH, M3AE_S1(Dv),
                "vision_encoder.visual.class_embedding");
    m3ae_tensor(b, M3AE_SLOT(w, pos), M3AE_TRAINABLE, M3AE_INIT_NORMAL_WIDTH, M3AE_S2(N + 1, Dv),
                "vision_encoder.visual.positional_embedding");
    m3ae_tensor(b, M3AE_SLOT(w, conv), M3AE_TRAINABLE, M3AE_INIT_NORMAL, M3AE_S4(Dv, 3, P, P),
                "vision_encoder.visual.conv1.weight");
    m3ae_layernorm_tensors(b, M3AE_SLOT(w, ln_pre_g), M3AE_SLOT(w, ln_pre_b), Dv, "vision_encoder.visual.ln_pre");
    for (int i = 0; i < c->vision_layers; i++) {
        m3ae_builder_group(b, M3AE_GG_VISION_BLOCK, 0, i);
        snprintf(s, sizeof s, "vision_encoder.visual.transformer.resblocks.%d", i);
        m3ae_clip_block_tensors(b, ELEM(w, vblk, i), Dv, s);
    }
    m3ae_builder_group(b, M3AE_GG_LN_POST, 0, 0);
    m3ae_layernorm_tensors(b, M3AE_SLOT(w, ln_post_g), M3AE_SLOT(w, ln_post_b), Dv, "vision_encoder.visual.ln_post");
}

/* RoBERTa: embeddings, layers, and the pooler METER never calls (no gradient). */
static void text_tensors(m3ae_tensor_builder *b, const m3ae_config *c, m3ae_weights *w) {
    const int64_t Dt = c->text_width;
    char s[M3AE_PARAM_NAME_LEN];
    m3ae_builder_section(b, M3AE_MOD_TEXT, M3AE_BWD_TEXT);
    m3ae_builder_group(b, M3AE_GG_TEXT_EMB, 0, 0);
    m3ae_tensor(b, M3AE_SLOT(w, word), M3AE_TRAINABLE, M3AE_INIT_NORMAL, M3AE_S2(c->vocab_size, Dt),
                "language_encoder.embeddings.word_embeddings.weight");
    m3ae_tensor(b, M3AE_SLOT(w, tpos), M3AE_TRAINABLE, M3AE_INIT_NORMAL, M3AE_S2(c->max_position_embeddings, Dt),
                "language_encoder.embeddings.position_embeddings.weight");
    m3ae_tensor(b, M3AE_SLOT(w, ttype), M3AE_TRAINABLE, M3AE_INIT_NORMAL, M3AE_S2(1, Dt),
                "language_encoder.embeddings.token_type_embeddings.weight");
    m3ae_layernorm_tensors(b, M3AE_SLOT(w, emb_ln_g), M3AE_SLOT(w, emb_ln_b), Dt, "language_encoder.embeddings.LayerNorm");
    for (int i = 0; i < c->text_layers; i++) {
        m3ae_builder_group(b, M3AE_GG_TEXT_ATTN, 0, i);
        snprintf(s, sizeof s, "language_encoder.encoder.layer.%d.attention", i);
        m3ae_bert_attn_tensors(b, ELEM(w, tattn, i), Dt, s);
        m3ae_builder_group(b, M3AE_GG_TEXT_FFN, 0, i);
        snprintf(s, sizeof s, "language_encoder.encoder.layer.%d", i);
        m3ae_bert_ffn_tensors(b, ELEM(w, tffn, i), Dt, c->text_ffn, s);
    }
    /* the unused pooler stays in the top layer's FFN group: no backward writes it, and a group is a
     * contiguous range, so it joins its registry neighbour */
    m3ae_builder_no_grad(b);
    m3ae_linear_tensors(b, M3AE_SLOT(w, tpool_w), M3AE_SLOT(w, tpool_b), Dt, Dt, "language_encoder.pooler.dense");
}

/* The fusion streams' name prefixes, index s: 0 = language, 1 = vision. */
static const char *const fusion_stream[2] = {"multi_modal_language", "multi_modal_vision"};

static void fusion_tensors(m3ae_tensor_builder *b, const m3ae_config *c, m3ae_weights *w) {
    const int64_t H = c->hidden_size;
    char s[M3AE_PARAM_NAME_LEN];
    /* projections and type embeddings */
    m3ae_builder_section(b, M3AE_MOD_PROJ_POOL, M3AE_BWD_PROJECTIONS);
    m3ae_builder_group(b, M3AE_GG_PROJECTIONS, 0, 0);
    m3ae_linear_tensors(b, M3AE_SLOT(w, proj_w[0]), M3AE_SLOT(w, proj_b[0]), H, c->text_width,
                        "multi_modal_language_proj");
    m3ae_linear_tensors(b, M3AE_SLOT(w, proj_w[1]), M3AE_SLOT(w, proj_b[1]), H, c->vision_width,
                        "multi_modal_vision_proj");
    m3ae_tensor(b, M3AE_SLOT(w, type_emb), M3AE_TRAINABLE, M3AE_INIT_NORMAL, M3AE_S2(2, H),
                "modality_type_embeddings.weight");

    /* the fusion layers, stream by stream */
    m3ae_builder_section(b, M3AE_MOD_FUSION, M3AE_BWD_FUSION);
    for (int st = 0; st < 2; st++)
        for (int i = 0; i < c->num_top_layer; i++) {
            m3ae_builder_fusion_layer(b, i, st);
            m3ae_builder_group(b, M3AE_GG_FUSION_SELF, st, i);
            snprintf(s, sizeof s, "%s_layers.%d.attention", fusion_stream[st], i);
            m3ae_bert_attn_tensors(b, ELEM(w, fself[st], i), H, s);
            m3ae_builder_group(b, M3AE_GG_FUSION_CROSS, st, i);
            snprintf(s, sizeof s, "%s_layers.%d.crossattention", fusion_stream[st], i);
            m3ae_bert_attn_tensors(b, ELEM(w, fcross[st], i), H, s);
            m3ae_builder_group(b, M3AE_GG_FUSION_FFN, st, i);
            snprintf(s, sizeof s, "%s_layers.%d", fusion_stream[st], i);
            m3ae_bert_ffn_tensors(b, ELEM(w, fffn[st], i), H, m3ae_cfg_fusion_ffn(c), s);
        }

    /* poolers (read by the ITM head only, so they finish with it) */
    m3ae_builder_section(b, M3AE_MOD_PROJ_POOL, M3AE_BWD_ITM_HEAD);
    m3ae_builder_group(b, M3AE_GG_POOLERS, 0, 0);
    for (int st = 0; st < 2; st++) {
        snprintf(s, sizeof s, "%s_pooler.dense", fusion_stream[st]);
        m3ae_linear_tensors(b, M3AE_SLOT(w, pool_w[st]), M3AE_SLOT(w, pool_b[st]), H, H, s);
    }
}

void m3ae_backbone_tensors(m3ae_tensor_builder *b, const m3ae_config *c, m3ae_weights *w) {
    vision_tensors(b, c, w);
    text_tensors(b, c, w);
    fusion_tensors(b, c, w);
}
