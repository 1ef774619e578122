/* The pretraining task as a description: the passes each objective runs, in order, for training
 * (forward + backward) and for validation (forward only: the same list, so that objective = joint
 * validates what it trains). Pure data: no MPI, no io/. The binding to the data and the metrics is
 * launch/train/task_pretrain.c. */
#ifndef M3AE_MODEL_TASKS_PRETRAIN_H
#define M3AE_MODEL_TASKS_PRETRAIN_H

#include "model/config.h"
#include "model/tasks/passes.h"

/* separate: MLM, MIM, ITM (official, spec 2.1); joint: JOINT (masked text and kept patches, both
 * heads), ITM. */
m3ae_pass_list m3ae_pretrain_passes(int objective);

#endif
