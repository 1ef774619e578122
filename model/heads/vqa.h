/* The VQA head (spec 1.6, official vqa_head): Linear(2H,2H), LayerNorm(2H, eps 1e-5), GELU(erf),
 * Linear(2H, vqa_labels) on the pooled multi-modal features [text CLS, image CLS]. Registered only
 * when the configuration asks for it (vqa_labels > 0), after every pretraining tensor, so that a
 * pretraining checkpoint's layout is a prefix of the fine-tuning one. Fresh at fine-tuning start
 * (the official builds it after loading the pretrained weights): N(0,0.02) weights, zero biases,
 * unit LayerNorm. Names vqa_head.{0,1,3}.* as the official state dict (index 2 is the GELU). */
#ifndef M3AE_MODEL_HEADS_VQA_H
#define M3AE_MODEL_HEADS_VQA_H

#include "model/config.h"
#include "model/registry.h"

/* LayerNorm eps of the downstream heads (nn.LayerNorm default). */
#define M3AE_HEAD_LN_EPS 1e-5f

typedef struct {
    float *fc1_w, *fc1_b; /* (2H,2H), (2H) */
    float *ln_g, *ln_b;   /* (2H) */
    float *fc2_w, *fc2_b; /* (n,2H), (n) */
} m3ae_vqa_w;

/* Registers nothing when c->vqa_labels == 0. w may be NULL in REGISTER mode. */
void m3ae_vqa_head_tensors(m3ae_tensor_builder *b, const m3ae_config *c, m3ae_vqa_w *w);

#endif
