/* The VQA head's tensors (vqa.h): the only place in model/ that spells its names. */
#include "model/heads/vqa.h"

#include "model/m3ae_internal.h"

void m3ae_vqa_head_tensors(m3ae_tensor_builder *b, const m3ae_config *c, m3ae_vqa_w *w) {
    if (c->vqa_labels <= 0) return;
    const int64_t H2 = 2 * (int64_t)c->hidden_size;
    m3ae_builder_section(b, M3AE_MOD_VQA_HEAD, M3AE_BWD_ITM_HEAD); /* the head stage: before the poolers */
    m3ae_builder_group(b, M3AE_GG_VQA_HEAD, 0, 0);
    m3ae_linear_tensors(b, M3AE_SLOT(w, fc1_w), M3AE_SLOT(w, fc1_b), H2, H2, "vqa_head.0");
    m3ae_layernorm_tensors(b, M3AE_SLOT(w, ln_g), M3AE_SLOT(w, ln_b), H2, "vqa_head.1");
    m3ae_linear_tensors(b, M3AE_SLOT(w, fc2_w), M3AE_SLOT(w, fc2_b), c->vqa_labels, H2, "vqa_head.3");
}
