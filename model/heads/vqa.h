/* The VQA head (spec 1.6, official vqa_head): the downstream classifier head (classifier.h) named
 * vqa_head.{0,1,3}.* with vqa_labels outputs. Registered only when the configuration asks for it
 * (vqa_labels > 0). Its loss (BCEWithLogits x n_labels) is the VQA pass's (model/m3ae_pass.c). */
#ifndef M3AE_MODEL_HEADS_VQA_H
#define M3AE_MODEL_HEADS_VQA_H

#include "model/heads/classifier.h"

typedef m3ae_classifier_w m3ae_vqa_w;

/* Registers nothing when c->vqa_labels == 0. w may be NULL in REGISTER mode. */
void m3ae_vqa_head_tensors(m3ae_tensor_builder *b, const m3ae_config *c, m3ae_vqa_w *w);

#endif
