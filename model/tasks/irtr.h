/* The retrieval fine-tuning task as a description: one pass (M3AE_PASS_IRTR: each image with its K
 * candidate captions, the positive first; the irtr_head and the cross-entropy over the K scores),
 * for training; the validation recall runs by cross-encoder scoring (launch/eval_irtr.h). Pure
 * data; the binding to the data and the metrics is launch/train/task_irtr.c. */
#ifndef M3AE_MODEL_TASKS_IRTR_H
#define M3AE_MODEL_TASKS_IRTR_H

#include "model/tasks/passes.h"

m3ae_pass_list m3ae_irtr_passes(void);

#endif
