/* The VQA head's tensors (vqa.h): the only place in model/ that spells its name. */
#include "model/heads/vqa.h"

#include "model/m3ae_internal.h"

void m3ae_vqa_head_tensors(m3ae_tensor_builder *b, const m3ae_config *c, m3ae_vqa_w *w) {
    m3ae_classifier_tensors(b, c, "vqa_head", c->vqa_labels, M3AE_MOD_VQA_HEAD, M3AE_GG_VQA_HEAD, w);
}
