/* The MLM head (BertLMPredictionHead): transform dense + GELU + LayerNorm, then the decoder over the
 * vocabulary with its own bias. Its tensors are registered and bound by m3ae_mlm_head_tensors. */
#ifndef M3AE_MODEL_HEADS_MLM_H
#define M3AE_MODEL_HEADS_MLM_H

#include "model/config.h"
#include "model/registry.h"

typedef struct {
    float *dense_w, *dense_b; /* (H,H), (H) */
    float *ln_g, *ln_b;       /* (H) */
    float *dec_w, *bias;      /* (V,H), (V) */
} m3ae_mlm_w;

/* w may be NULL in REGISTER mode. */
void m3ae_mlm_head_tensors(m3ae_tensor_builder *b, const m3ae_config *c, m3ae_mlm_w *w);

#endif
