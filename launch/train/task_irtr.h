/* The retrieval fine-tuning task for the trainer (spec 3.4, 4.3): the IRTR pass list
 * (model/tasks/irtr.h), the retrieval sampler (io/samplers/irtr.h: each image with its positive
 * caption and irtr_candidates - 1 other captions of the split, clip_resizedcrop in training when
 * random_crop = 1), one loss denominator (the images of the global step: the official cross-entropy
 * is a mean over the images), the loss and the candidate accuracy (the positive scores highest),
 * validation R@k by cross-encoder scoring on the first irtr_val_images images of the val split
 * (launch/eval_irtr.h), and the start from a checkpoint (m3ae_irtr_init_from): the backbone and the
 * ITM head by name (positions resized), the irtr_head from the ITM match row as the official
 * (itm_head.fc.weight[1:], bias[1:]) unless the checkpoint has an irtr_head. The model needs
 * cfg->model.irtr_head = 1 (the ITM head is then frozen: no gradient, no update, no decay). */
#ifndef M3AE_LAUNCH_TRAIN_TASK_IRTR_H
#define M3AE_LAUNCH_TRAIN_TASK_IRTR_H

#include "io/tokenizer.h"
#include "launch/train/trainer.h"
#include "launch/train_config.h"

/* cfg and tok are borrowed and must outlive the task's use. */
typedef struct {
    const m3ae_train_config *cfg;
    const m3ae_tokenizer *tok;
    const char *train_dir; /* the folder whose source gets clip_resizedcrop (random_crop = 1) */
    const char *val_dir;   /* validation recall (NULL: none) */
} m3ae_irtr_task_ctx;

m3ae_task m3ae_task_irtr(m3ae_irtr_task_ctx *ctx);

int m3ae_irtr_init_from(void *ctx, const char *path, m3ae_model *m, m3ae_error *err);

#endif
