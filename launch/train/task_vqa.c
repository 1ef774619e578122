/* The VQA fine-tuning task (launch/train/task_vqa.h): its row of the labelled tasks. */
#include "launch/train/task_vqa.h"

#include "model/tasks/vqa.h"

static const m3ae_metric_def train_metrics[M3AE_LABEL_N_TRAIN] = {
    [M3AE_LABEL_T_LOSS] = {"loss", "loss", M3AE_METRIC_TOTAL, 0},
    [M3AE_LABEL_T_HEAD] = {"vqa_loss", "vqa", M3AE_METRIC_STEP_MEAN, 0},
    [M3AE_LABEL_T_ACC] = {"vqa_acc", "vqa_acc", M3AE_METRIC_RATIO, 0},
};

/* Validation: unseen answers (label -1) count as wrong (the accuracy's denominator is every sample). */
static const m3ae_metric_def val_metrics[M3AE_LABEL_N_VAL] = {
    [M3AE_LABEL_V_ACC] = {"vqa_acc", NULL, M3AE_METRIC_RATIO, 0},
    [M3AE_LABEL_V_LOSS] = {"vqa_loss", NULL, M3AE_METRIC_RATIO, 1},
};

static const m3ae_label_task_desc vqa = {.name = "VQA fine-tuning",
                                         .task = "vqa",
                                         .what = "VQA",
                                         .formats = "vqa-rad|slake|vqa-med-2019",
                                         .head = "vqa_head",
                                         .pass = M3AE_PASS_VQA,
                                         .passes = m3ae_vqa_passes,
                                         .train_metrics = train_metrics,
                                         .val_metrics = val_metrics};

m3ae_task m3ae_task_vqa(m3ae_vqa_task_ctx *ctx) { return m3ae_label_task(ctx, &vqa); }

int m3ae_vqa_load_weights(const char *path, m3ae_model *m, int *fresh_head, m3ae_error *err) {
    return m3ae_task_load_weights(path, m, "vqa_head", fresh_head, err);
}

int m3ae_vqa_init_from(void *ctx, const char *path, m3ae_model *m, m3ae_error *err) {
    (void)ctx;
    return m3ae_vqa_load_weights(path, m, NULL, err);
}
