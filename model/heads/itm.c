/* The ITM head's tensors (itm.h): the only place in model/ that spells its names. */
#include "model/heads/itm.h"

#include "model/m3ae_internal.h"

void m3ae_itm_head_tensors(m3ae_tensor_builder *b, const m3ae_config *c, m3ae_itm_w *w) {
    m3ae_builder_section(b, M3AE_MOD_ITM_HEAD, M3AE_BWD_ITM_HEAD);
    m3ae_builder_group(b, M3AE_GG_ITM_HEAD, 0, 0);
    if (c->irtr_head > 0) m3ae_builder_no_grad(b); /* retrieval fine-tuning freezes it (heads/irtr.h) */
    m3ae_linear_tensors(b, M3AE_SLOT(w, w), M3AE_SLOT(w, b), 2, 2 * (int64_t)c->hidden_size, "itm_head.fc");
}
