/* The FLOP model of one pretraining sample (spec section 7): 2 x MACs of every matrix product
 * (attention QK^T and AV included; norms, activations, softmax, embeddings ignored), text always
 * at max_text_len, training = 3 x forward. Used for GFLOP/s and MFU in logs and benchmarks. */
#ifndef M3AE_MODEL_FLOPS_H
#define M3AE_MODEL_FLOPS_H

#include "model/config.h"

typedef struct {
    double forward[3];    /* per pass: MLM, MIM, ITM (FLOP per sample); objective joint: JOINT, 0, ITM */
    double text, vision[3], proj_pool[3], fusion[3], head[3]; /* parts, per pass where they differ */
    double forward_total; /* sum of the three passes */
    double train_total;   /* 3 x forward_total: the number for MFU */
} m3ae_flops;

void m3ae_flops_compute(const m3ae_config *cfg, m3ae_flops *f);

#endif
