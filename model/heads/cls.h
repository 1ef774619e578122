/* The image-text classification head (spec 1.6 and 4.2, official cls_head; MELINDA): the downstream
 * classifier head (classifier.h) named cls_head.{0,1,3}.* with cls_labels outputs. Registered only
 * when the configuration asks for it (cls_labels > 0), after the VQA head. Its loss (softmax
 * cross-entropy, mean over the batch) is the CLS pass's (model/m3ae_pass.c). */
#ifndef M3AE_MODEL_HEADS_CLS_H
#define M3AE_MODEL_HEADS_CLS_H

#include "model/heads/classifier.h"

typedef m3ae_classifier_w m3ae_cls_w;

/* Registers nothing when c->cls_labels == 0. w may be NULL in REGISTER mode. */
void m3ae_cls_head_tensors(m3ae_tensor_builder *b, const m3ae_config *c, m3ae_cls_w *w);

#endif
