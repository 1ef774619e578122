/* The retrieval head (spec 1.6, official irtr_head): Linear(2H, 1) on the pooled multi-modal
 * features, one score per (image, text) pair. Registered only when cfg.irtr_head = 1, after every
 * other tensor, so that a pretraining checkpoint's layout is a prefix of the fine-tuning one. The
 * fine-tuning starts it from the ITM head's match row (itm_head.fc.weight[1:], bias[1:], the
 * official assignment; launch/train/task_irtr.c), and with it the ITM head is frozen: registered
 * without a gradient (model/heads/itm.c), so the optimizer neither updates nor decays it. Names
 * irtr_head.weight / irtr_head.bias as the official state dict. */
#ifndef M3AE_MODEL_HEADS_IRTR_H
#define M3AE_MODEL_HEADS_IRTR_H

#include "model/config.h"
#include "model/registry.h"

typedef struct {
    float *w, *b; /* (1,2H), (1) */
} m3ae_irtr_w;

/* Registers nothing when c->irtr_head == 0. w may be NULL in REGISTER mode. */
void m3ae_irtr_head_tensors(m3ae_tensor_builder *b, const m3ae_config *c, m3ae_irtr_w *w);

#endif
