/* A task's pass list: the model passes one micro-batch runs, in order (forward + backward when
 * training, forward only when validating). Every task of model/tasks/ describes its own. */
#ifndef M3AE_MODEL_TASKS_PASSES_H
#define M3AE_MODEL_TASKS_PASSES_H

#include "model/m3ae.h"

typedef struct m3ae_pass_list_s {
    const m3ae_pass *passes;
    int n;
} m3ae_pass_list;

#endif
