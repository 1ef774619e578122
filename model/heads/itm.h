/* The ITM head: one linear layer over the concatenated fusion poolers' outputs (2H) to two classes.
 * Its tensors are registered and bound by m3ae_itm_head_tensors. */
#ifndef M3AE_MODEL_HEADS_ITM_H
#define M3AE_MODEL_HEADS_ITM_H

#include "model/config.h"
#include "model/registry.h"

typedef struct {
    float *w, *b; /* (2,2H), (2) */
} m3ae_itm_w;

/* w may be NULL in REGISTER mode. */
void m3ae_itm_head_tensors(m3ae_tensor_builder *b, const m3ae_config *c, m3ae_itm_w *w);

#endif
