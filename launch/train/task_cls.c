/* The classification fine-tuning task (launch/train/task_cls.h): its row of the labelled tasks. */
#include "launch/train/task_cls.h"

#include "model/tasks/cls.h"

static const m3ae_metric_def train_metrics[M3AE_LABEL_N_TRAIN] = {
    [M3AE_LABEL_T_LOSS] = {"loss", "loss", M3AE_METRIC_TOTAL, 0},
    [M3AE_LABEL_T_HEAD] = {"cls_loss", "cls", M3AE_METRIC_STEP_MEAN, 0},
    [M3AE_LABEL_T_ACC] = {"cls_acc", "cls_acc", M3AE_METRIC_RATIO, 0},
};

/* Validation: a class outside the training vocabulary (label -1) counts as wrong. */
static const m3ae_metric_def val_metrics[M3AE_LABEL_N_VAL] = {
    [M3AE_LABEL_V_ACC] = {"cls_acc", NULL, M3AE_METRIC_RATIO, 0},
    [M3AE_LABEL_V_LOSS] = {"cls_loss", NULL, M3AE_METRIC_RATIO, 1},
};

static const m3ae_label_task_desc cls = {.name = "classification fine-tuning",
                                         .task = "cls",
                                         .what = "classification",
                                         .formats = "melinda",
                                         .head = "cls_head",
                                         .pass = M3AE_PASS_CLS,
                                         .passes = m3ae_cls_passes,
                                         .train_metrics = train_metrics,
                                         .val_metrics = val_metrics};

m3ae_task m3ae_task_cls(m3ae_label_task_ctx *ctx) { return m3ae_label_task(ctx, &cls); }
