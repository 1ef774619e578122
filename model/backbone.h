/* The backbone's tensors: CLIP visual, RoBERTa (with its unused pooler), the projections into the
 * fusion width with the modality type embeddings, the fusion layers and the fusion poolers, each
 * registered or bound by one tensors function (the builder of model/registry.h), in the registry's
 * order. m3ae_model_tensors (model/m3ae.c) composes the backbone and the heads (model/heads/). */
#ifndef M3AE_MODEL_BACKBONE_H
#define M3AE_MODEL_BACKBONE_H

#include "model/m3ae_internal.h"
#include "model/registry.h"

/* A CLIP ResidualAttentionBlock (the ViT and the MIM decoder): fused in_proj, out_proj, ln_1,
 * mlp c_fc (4w) / c_proj, ln_2. w may be NULL in REGISTER mode. */
void m3ae_clip_block_tensors(m3ae_tensor_builder *b, m3ae_clip_w *w, int64_t width, const char *prefix);
/* A BERT attention sub-layer (prefix ends in `attention` or `crossattention`). */
void m3ae_bert_attn_tensors(m3ae_tensor_builder *b, m3ae_bert_attn_w *w, int64_t width, const char *prefix);
/* A BERT feed-forward sub-layer: prefix.intermediate.dense (ffn), prefix.output.dense, its LayerNorm. */
void m3ae_bert_ffn_tensors(m3ae_tensor_builder *b, m3ae_bert_ffn_w *w, int64_t width, int64_t ffn,
                           const char *prefix);
/* Every backbone tensor into w's backbone fields (their per-layer arrays allocated by the caller);
 * w NULL in REGISTER mode. */
void m3ae_backbone_tensors(m3ae_tensor_builder *b, const m3ae_config *c, m3ae_weights *w);
/* The whole model: backbone, then the MLM, MIM and ITM heads (model/m3ae.c). */
void m3ae_model_tensors(m3ae_tensor_builder *b, const m3ae_config *c, m3ae_weights *w);

#endif
