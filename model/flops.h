/* The FLOP model of one pretraining sample (spec section 7): 2 x MACs of every matrix product
 * (attention QK^T and AV included; norms, activations, softmax, embeddings ignored), text always
 * at max_text_len.
 *   m3ae_flops_compute: the official-equivalent count, the spec's table: the MLM head on all
 *     max_text_len positions and training = 3 x forward (833.33 GFLOP at base). Comparable with
 *     other reports of M3AE; not what this model computes.
 *   m3ae_flops_work_compute: the work this model does, the number for MFU (it can never exceed 100 %):
 *     the MLM head on the labelled rows only, and backward only where model/m3ae_pass.c goes
 *     (spec 7 "exact-backprop variant"): a fusion layer's stream gets its backward once a loss
 *     gradient has reached it (MLM: the text stream of the top layer, then both streams below;
 *     MIM: the image stream of layer mim_layer - 1, then both below; ITM: both, via the
 *     poolers), the encoders and projections when their stream got a gradient, and the patch
 *     conv without an input gradient. Backward of a reached product = 2 x its forward (dX, dW). */
#ifndef M3AE_MODEL_FLOPS_H
#define M3AE_MODEL_FLOPS_H

#include "model/config.h"

typedef struct {
    double forward[3];    /* per pass: MLM, MIM, ITM (FLOP per sample); objective joint: JOINT, 0, ITM */
    double text, vision[3], proj_pool[3], fusion[3], head[3]; /* parts, per pass where they differ */
    double forward_total; /* sum of the three passes */
    double train_total;   /* 3 x forward_total: the official-equivalent training FLOP per sample */
} m3ae_flops;

void m3ae_flops_compute(const m3ae_config *cfg, m3ae_flops *f);

typedef struct {
    double mlm_rows;                  /* labelled rows per sample the MLM head ran on (the input) */
    double forward[3], backward[3];   /* per pass, as m3ae_flops.forward (joint: JOINT, 0, ITM) */
    double mlm_head_forward, mlm_head_backward; /* the MLM head's part of the MLM (or JOINT) pass */
    double forward_total, backward_total;
    double train_total;               /* forward_total + backward_total: the number for MFU */
} m3ae_flops_work;

/* Whether the backward of `pass` (the m3ae_pass values: 0 MLM, 1 MIM, 2 ITM, 3 JOINT) reaches fusion
 * layer `layer` of `stream` (0 text, 1 image) or, with layer = -1, that stream's encoder and
 * projection: the parts the work count's backward sums (a test holds it to m3ae_pass.c). */
int m3ae_flops_reaches(const m3ae_config *cfg, int pass, int stream, int layer);

/* mlm_rows: mean labelled MLM positions per sample (the trainer's count over the steps it reports;
 * max_text_len when the head runs on every position). */
void m3ae_flops_work_compute(const m3ae_config *cfg, double mlm_rows, m3ae_flops_work *w);

#endif
