/* The VQA fine-tuning task for the trainer (spec 3.4): the VQA pass list (model/tasks/vqa.h), the
 * labelled sampler's source (launch/train/task_labelled.h: clip_resizedcrop in training when
 * random_crop = 1, clip for validation), one loss denominator (the samples of the global step: the
 * official BCEWithLogits * n_labels is a mean over the batch), the VQA loss and accuracy metrics,
 * and the start from a PRETRAINING checkpoint (m3ae_vqa_init_from: the backbone by name, the
 * position embeddings resized, the VQA head fresh: the official builds it after loading). */
#ifndef M3AE_LAUNCH_TRAIN_TASK_VQA_H
#define M3AE_LAUNCH_TRAIN_TASK_VQA_H

#include "launch/train/task_labelled.h"

/* cfg (with cfg->model.vqa_labels set) and tok are borrowed and must outlive the task's use. */
typedef m3ae_label_task_ctx m3ae_vqa_task_ctx;

m3ae_task m3ae_task_vqa(m3ae_vqa_task_ctx *ctx);

/* m3ae_task_load_weights for the VQA head (task_labelled.h). */
int m3ae_vqa_init_from(void *ctx, const char *path, m3ae_model *m, m3ae_error *err);
int m3ae_vqa_load_weights(const char *path, m3ae_model *m, int *fresh_head, m3ae_error *err);

#endif
