/* The MLM head's tensors (mlm.h): the only place in model/ that spells its names. */
#include "model/heads/mlm.h"

#include "model/m3ae_internal.h"

void m3ae_mlm_head_tensors(m3ae_tensor_builder *b, const m3ae_config *c, m3ae_mlm_w *w) {
    const int64_t H = c->hidden_size, V = c->vocab_size;
    m3ae_builder_section(b, M3AE_MOD_MLM_HEAD, M3AE_BWD_MLM_HEAD);
    m3ae_builder_group(b, M3AE_GG_MLM_HEAD, 0, 0);
    m3ae_linear_tensors(b, M3AE_SLOT(w, dense_w), M3AE_SLOT(w, dense_b), H, H, "mlm_head.transform.dense");
    m3ae_layernorm_tensors(b, M3AE_SLOT(w, ln_g), M3AE_SLOT(w, ln_b), H, "mlm_head.transform.LayerNorm");
    m3ae_tensor(b, M3AE_SLOT(w, dec_w), M3AE_TRAINABLE, M3AE_INIT_NORMAL, M3AE_S2(V, H), "mlm_head.decoder.weight");
    m3ae_tensor(b, M3AE_SLOT(w, bias), M3AE_TRAINABLE, M3AE_INIT_ZEROS, M3AE_S1(V), "mlm_head.bias");
}
