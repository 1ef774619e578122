/* The VQA fine-tuning task as a description: one pass (M3AE_PASS_VQA: question + full image, no
 * masking, the VQA head), the same for training (forward + backward) and evaluation (forward only).
 * Pure data; the binding to the data and the metrics is launch/train/task_vqa.c. */
#ifndef M3AE_MODEL_TASKS_VQA_H
#define M3AE_MODEL_TASKS_VQA_H

#include "model/tasks/passes.h"

m3ae_pass_list m3ae_vqa_passes(void);

#endif
