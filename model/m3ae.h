/* The M3AE model: the three pretraining passes (spec 2.1), forward and explicit backward, on top of
 * the backend interface (model/backend.h). Memory (parameters, gradients, activations for the
 * largest pass of a micro-batch of at most max_batch samples, the backend workspace of the largest
 * call of each entry, the staging area of one micro-batch) is planned and allocated once at
 * creation; nothing is allocated inside a step.
 *
 * A micro-batch is staged once (m3ae_model_stage: one upload of the images, the ITM images and every
 * index array); the passes (forward, backward, step) then read the staged arrays. Passes run one after another (forward then backward), accumulating
 * parameter gradients, so the activation memory is sized for one pass.
 *
 * The randomness of the objectives (MLM masking, MIM patch order, ITM pairs) is an INPUT (the batch),
 * produced by the loader or injected by tests; dropout is counter-based (seed, step, site, sample). */
#ifndef M3AE_MODEL_M3AE_H
#define M3AE_MODEL_M3AE_H

#include <stdint.h>
#include <stdio.h>

#include "model/config.h"
#include "model/backend.h"
#include "model/registry.h"

/* JOINT (objective = joint only): masked text + kept patches, both the MLM and the MIM head. */
/* VQA (fine-tuning, cfg.vqa_labels > 0): question text + full image -> the VQA head on the pooled features. */
/* CLS (fine-tuning, cfg.cls_labels > 0): caption + full image -> the classification head on the pooled features. */
/* IRTR (retrieval fine-tuning, cfg.irtr_head = 1): B / K images, each with K candidate texts (the
 * positive first); the vision encoder runs once per image, its features feed the image's K pairs. */
typedef enum {
    M3AE_PASS_MLM = 0,
    M3AE_PASS_MIM = 1,
    M3AE_PASS_ITM = 2,
    M3AE_PASS_JOINT = 3,
    M3AE_PASS_VQA = 4,
    M3AE_PASS_CLS = 5,
    M3AE_PASS_IRTR = 6
} m3ae_pass;
enum { M3AE_PASS_KINDS = 7 };

/* One micro-batch; every pointer is host memory. m3ae_model_stage reads the arrays; the passes read
 * only the scalars (B, step, denominators) of the batch they are given. */
typedef struct {
    int B;
    const float *images;            /* (B,3,H,W) CLIP-normalised; MLM and MIM passes */
    const float *itm_images;        /* (B,3,H,W) the ITM pass's images (wrong image where label 0) */
    const int32_t *text_ids;        /* (B,L) unmasked, padded with 1 */
    const int32_t *text_masks;      /* (B,L) 1 real, 0 padding */
    const int32_t *mlm_ids;         /* (B,L) after masking / replacement */
    const int32_t *mlm_labels;      /* (B,L) -100 where not predicted */
    const int32_t *mim_ids_shuffle; /* (B,N) argsort of the MIM noise; the first keep patches are kept */
    const int32_t *itm_labels;      /* (B) 1 matched, 0 not */
    const int64_t *sample_ids;      /* (B) global sample index (dropout); NULL: 0..B-1 */
    uint64_t step;                  /* dropout counter (optimizer step or micro-step) */
    /* Loss denominators (the number of predicted tokens, removed patches, ITM pairs) over which each
     * loss is averaged; <= 0 uses this micro-batch's own counts. Multi-rank / accumulation passes
     * global counts so that the summed gradients equal the gradient of the global mean. */
    double mlm_denom, mim_denom, itm_denom;
    /* VQA pass: the answer label of each sample in [0, vqa_labels), or -1 for an answer outside the
     * vocabulary (an all-zero target: it can only be wrong). vqa_denom: the samples the loss is
     * averaged over (<= 0: B). */
    const int32_t *vqa_labels; /* (B) */
    double vqa_denom;
    /* CLS pass: the class of each sample in [0, cls_labels), or -1 for a class outside the
     * vocabulary (no loss, never correct). cls_denom: the samples the cross-entropy is averaged over
     * (<= 0: B). */
    const int32_t *cls_labels; /* (B) */
    double cls_denom;
    /* IRTR pass: B = n_images * irtr_candidates pairs, pair (i, k) at row i * K + k with text k of
     * image i (k = 0 its positive caption) and `images` holding the n_images images (B / K rows);
     * the loss is the cross-entropy over each image's K scores with the target 0, summed over the
     * images and divided by irtr_denom (<= 0: n_images). sample_ids name the B pairs (dropout). */
    int irtr_candidates;
    double irtr_denom;
} m3ae_batch;

typedef struct {
    double mlm, mim, itm, total; /* normalised losses (sum / denominator) */
    int mlm_count, mlm_correct;  /* predicted tokens, argmax hits */
    int itm_correct;
    double mim_count; /* removed patches */
    double vqa;                   /* BCE-with-logits summed over the labels, averaged over vqa_denom */
    int vqa_count, vqa_correct;   /* samples, argmax == label (label -1 never correct) */
    double cls;                   /* softmax cross-entropy averaged over cls_denom */
    int cls_count, cls_correct;   /* samples, argmax == label (label -1 never correct) */
    double irtr;                  /* cross-entropy over the candidates, averaged over irtr_denom images */
    int irtr_count, irtr_correct; /* images, argmax == 0 (the positive scores highest) */
} m3ae_losses;

typedef struct m3ae_model m3ae_model;

/* cfg must validate; fatal errors name what failed. The model borrows the backend (open it with
 * m3ae_backend_open, close it after m3ae_model_destroy) and reserves its workspace. */
m3ae_model *m3ae_model_create(const m3ae_config *cfg, m3ae_backend *be, int max_batch);
void m3ae_model_destroy(m3ae_model *m);

const m3ae_registry *m3ae_model_registry(const m3ae_model *m);
const m3ae_config *m3ae_model_config(const m3ae_model *m);
m3ae_backend *m3ae_model_backend(const m3ae_model *m);
float *m3ae_model_params(m3ae_model *m); /* backend memory laid out by the registry */
float *m3ae_model_grads(m3ae_model *m);

/* Initialisation of spec 1.7 (N(0,0.02) linears/embeddings, zero biases, unit LayerNorms, xavier
 * in_proj, N(0,W^-1/2) CLIP class/positional embeddings) and the fixed sin-cos decoder_pos_embed. */
void m3ae_model_init_params(m3ae_model *m, uint64_t seed);
void m3ae_model_zero_grads(m3ae_model *m);
/* Dropout on (train=1, with cfg->drop_rate) or off (eval); seed keys the dropout masks. */
void m3ae_model_set_train(m3ae_model *m, int train, uint64_t seed);

/* Checks the batch (ids, labels, permutations; fatal errors name the sample and position) and
 * uploads it into the staging area: the images, the ITM images, the text ids of both the unmasked
 * and the masked text with their RoBERTa positions and key mask, the MLM rows and labels, the MIM
 * keep / un-shuffle indices and mask, the ITM labels and the dropout sample ids. Arrays that are
 * NULL are not staged (the passes that need them then refuse to run). Returns when the host arrays
 * may be reused. Call once per micro-batch, before its passes. */
void m3ae_model_stage(m3ae_model *m, const m3ae_batch *batch);
/* One pass on the staged micro-batch: forward returns the normalised loss; backward (right after the
 * forward of the same pass) accumulates the gradient of that loss into the gradient arena. `batch`
 * is the staged batch (its B must match); only its scalars are read: step (dropout) and the loss
 * denominators, which may change between passes without staging again. */
double m3ae_model_forward(m3ae_model *m, m3ae_pass pass, const m3ae_batch *batch);
void m3ae_model_backward(m3ae_model *m, m3ae_pass pass, const m3ae_batch *batch);
/* The training step of one staged micro-batch: forward + backward of every pass of the task's list
 * (model/tasks/passes.h), in order; gradients accumulate (the caller zeroes them). last_micro = 1
 * on the last micro-batch of an optimizer step: then the gradient-ready hook (below) is called.
 * losses (or NULL) receives the statistics of the last pass of each kind, total = the sum. */
typedef struct m3ae_pass_list_s m3ae_pass_list; /* defined in model/tasks/passes.h */
void m3ae_model_step(m3ae_model *m, const m3ae_batch *batch, const m3ae_pass_list *passes, int last_micro,
                     m3ae_losses *losses);

/* Gradient-ready hook: fn(ctx, first_tensor, n_tensors) names a contiguous range of registry
 * indices whose gradients are final for this optimizer step (no later write in the step). Called
 * only during m3ae_model_step with last_micro = 1, once per range, in the order backward finishes
 * them (the registry's backward_rank order for the pretraining pass lists); every registry entry is
 * in exactly one range and reported exactly once per step, the tensors without a gradient (the
 * RoBERTa pooler, in the text encoder's top ffn range; the fixed decoder_pos_embed, in the MIM
 * decoder's input range) included, so buckets can be built over the whole registry. On the CPU the
 * gradient is in memory when fn is called. fn = NULL removes the hook. */
typedef void (*m3ae_grad_hook)(void *ctx, int first_tensor, int n_tensors);
void m3ae_model_set_grad_hook(m3ae_model *m, m3ae_grad_hook fn, void *ctx);

/* Pass hook (timelines): fn(ctx, pass, phase) in m3ae_model_step when the forward of a pass
 * begins (phase 0), its backward begins (1) and its backward ends (2). fn = NULL removes it. */
typedef void (*m3ae_pass_hook)(void *ctx, m3ae_pass pass, int phase);
void m3ae_model_set_pass_hook(m3ae_model *m, m3ae_pass_hook fn, void *ctx);

/* Forward statistics of the last pass of each kind (counts, accuracy). */
void m3ae_model_last_losses(const m3ae_model *m, m3ae_losses *losses);

/* The MLM head's logits only matter at the predicted positions (labels != -100): by default it runs
 * on those rows only (same loss, gradients and accuracy as the official head over all positions,
 * with a fraction of its FLOPs). all = 1 runs it on every position, so that the mlm_logits output
 * holds (B,L,V) like the official model's (the fixture tests compare them). */
void m3ae_model_set_mlm_all_positions(m3ae_model *m, int all);

/* An output of the last forward pass by its fixture name (vision_embeds, text_embeds,
 * fusion_text_<i>, fusion_image_<i>, cls_feats, mlm_logits, mim_pred, mim_target, mim_mask,
 * itm_logits, vqa_logits, cls_logits): backend pointer and element count, or NULL when the name is unknown / not produced. */
const float *m3ae_model_output(const m3ae_model *m, const char *name, size_t *numel);

/* Bytes of parameters, gradients, activations, the reserved backend workspace and the staging area;
 * and a printed table. */
size_t m3ae_model_memory_bytes(const m3ae_model *m);
void m3ae_model_memory_report(const m3ae_model *m, FILE *f);

/* ---- cross-encoder retrieval on cached unimodal features (spec 4.3; launch/eval_irtr.c) ----
 * Evaluation mode only (m3ae_model_set_train(m, 0, ...)); n, B <= max_batch. A text feature is the
 * fusion input of its text stream (the projected RoBERTa output plus the text type embedding,
 * (L,H)), an image feature that of its image stream ((N+1,H)), in the backend's activation dtype:
 * opaque bytes of m3ae_model_{text,image}_feature_bytes each. Scoring B pairs runs the fusion
 * layers, the poolers and the ITM head's match row (score = itm_head.fc.weight[1] . cls_feats +
 * bias[1]): the same numbers as the ITM pass on the same pairs. Encoding or scoring invalidates
 * the staged micro-batch (stage again before a pass). */
size_t m3ae_model_text_feature_bytes(const m3ae_model *m);
int m3ae_model_max_batch(const m3ae_model *m); /* m3ae_model_create's max_batch */
size_t m3ae_model_image_feature_bytes(const m3ae_model *m);
/* ids, masks (n,L) -> out (n features, host) */
void m3ae_model_encode_texts(m3ae_model *m, const int32_t *ids, const int32_t *masks, int n, void *out);
/* images (n,3,S,S) CLIP-normalised -> out (n features, host) */
void m3ae_model_encode_images(m3ae_model *m, const float *images, int n, void *out);
/* pair s = (text_feats[s] with its mask text_masks[s] (L), image_feats[s]) -> scores[s] (host) */
void m3ae_model_score_pairs(m3ae_model *m, const void *const *text_feats, const int32_t *const *text_masks,
                            const void *const *image_feats, int B, float *scores);

/* ---- helpers (host) ---- */
/* The MAE 2-D sin-cos table (g*g + 1, D): zero CLS row, column coordinate first; computed in double. */
void m3ae_sincos_2d(float *out, int D, int g);
/* CLIP positional embedding resize: in (1 + gi*gi, W) -> out (1 + go*go, W), CLS row kept, the grid
 * resized like F.interpolate(mode='bicubic', align_corners=False) (cubic A = -0.75). */
void m3ae_pos_resize_bicubic(float *out, int go, const float *in, int gi, int W);

#endif
