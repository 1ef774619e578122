/* The image-text classification fine-tuning task for the trainer (MELINDA, spec 3.4 and 4.2): the CLS
 * pass list (model/tasks/cls.h), the labelled sampler's source over a folder of task "cls" (m3ae prep
 * --format melinda; caption up to max_text_len = 128, clip_resizedcrop in training when random_crop =
 * 1, clip for validation: launch/train/task_labelled.h), one loss denominator (the samples of the
 * global step: the official F.cross_entropy is a mean over the batch), the loss and accuracy
 * metrics, and the start from a pretraining checkpoint (the backbone by name, the position
 * embeddings resized, the cls head fresh). Its row of the labelled tasks (task_labelled.h). */
#ifndef M3AE_LAUNCH_TRAIN_TASK_CLS_H
#define M3AE_LAUNCH_TRAIN_TASK_CLS_H

#include "launch/train/task_labelled.h"

/* ctx: cfg (with cfg->model.cls_labels set) and tok borrowed, as m3ae_label_task. */
m3ae_task m3ae_task_cls(m3ae_label_task_ctx *ctx);

#endif
