/* The classification head's tensors (cls.h): the only place in model/ that spells its name. */
#include "model/heads/cls.h"

#include "model/m3ae_internal.h"

void m3ae_cls_head_tensors(m3ae_tensor_builder *b, const m3ae_config *c, m3ae_cls_w *w) {
    m3ae_classifier_tensors(b, c, "cls_head", c->cls_labels, M3AE_MOD_CLS_HEAD, M3AE_GG_CLS_HEAD, w);
}
