/* The classification fine-tuning task as a description (MELINDA, spec 4.2): one pass
 * (M3AE_PASS_CLS: caption + full image, no masking, the cls head), the same for training (forward +
 * backward) and evaluation (forward only). Pure data; the binding to the data and the metrics is
 * launch/train/task_cls.c. */
#ifndef M3AE_MODEL_TASKS_CLS_H
#define M3AE_MODEL_TASKS_CLS_H

#include "model/tasks/passes.h"

m3ae_pass_list m3ae_cls_passes(void);

#endif
