/* The retrieval head's tensors (irtr.h): the only place in model/ that spells its names. */
#include "model/heads/irtr.h"

#include "model/m3ae_internal.h"

void m3ae_irtr_head_tensors(m3ae_tensor_builder *b, const m3ae_config *c, m3ae_irtr_w *w) {
    if (c->irtr_head <= 0) return;
    m3ae_builder_section(b, M3AE_MOD_IRTR_HEAD, M3AE_BWD_ITM_HEAD); /* the head stage: before the poolers */
    m3ae_builder_group(b, M3AE_GG_IRTR_HEAD, 0, 0);
    m3ae_linear_tensors(b, M3AE_SLOT(w, w), M3AE_SLOT(w, b), 1, 2 * (int64_t)c->hidden_size, "irtr_head");
}
