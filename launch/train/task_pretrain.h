/* The pretraining task for the trainer: the pass list of the configured objective
 * (model/tasks/pretrain.h), the pretraining sampler on the generic pipeline, the MLM / MIM / ITM
 * loss denominators and the metrics of the log line, metrics.jsonl and validation. */
#ifndef M3AE_LAUNCH_TRAIN_TASK_PRETRAIN_H
#define M3AE_LAUNCH_TRAIN_TASK_PRETRAIN_H

#include "io/tokenizer.h"
#include "launch/train/trainer.h"
#include "launch/train_config.h"

/* cfg and tok are borrowed and must outlive the task's use. */
typedef struct {
    const m3ae_train_config *cfg;
    const m3ae_tokenizer *tok;
} m3ae_pretrain_task_ctx;

/* The task over ctx (borrowed). */
m3ae_task m3ae_task_pretrain(m3ae_pretrain_task_ctx *ctx);

#endif
