/* The image-text classification fine-tuning task for the trainer (MELINDA, spec 3.4 and 4.2): the CLS
 * pass list (model/tasks/cls.h), the labelled sampler's source over a folder of task "cls" (m3ae prep
 * --format melinda; caption up to max_text_len = 128, clip_resizedcrop in training when random_crop =
 * 1, clip for validation: launch/train/task_labelled.h), one loss denominator (the samples of the
 * global step: the official F.cross_entropy is a mean over the batch), the loss and accuracy
 * metrics, and the start from a pretraining checkpoint (m3ae_cls_init_from: the backbone by name, the
 * position embeddings resized, the cls head fresh). */
#ifndef M3AE_LAUNCH_TRAIN_TASK_CLS_H
#define M3AE_LAUNCH_TRAIN_TASK_CLS_H

#include "launch/train/task_labelled.h"

/* cfg (with cfg->model.cls_labels set) and tok are borrowed and must outlive the task's use. */
m3ae_task m3ae_task_cls(m3ae_label_task_ctx *ctx);

/* m3ae_task_load_weights for the cls head (task_labelled.h). */
int m3ae_cls_init_from(void *ctx, const char *path, m3ae_model *m, m3ae_error *err);

#endif
