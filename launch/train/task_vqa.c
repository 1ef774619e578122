/* The VQA fine-tuning task (launch/train/task_vqa.h). */
#include "launch/train/task_vqa.h"

#include "io/samplers/labelled.h"
#include "launch/train/task_source.h"
#include "model/tasks/vqa.h"

enum { DENOM_SAMPLES, N_DENOMS };

enum { T_LOSS, T_VQA, T_ACC, N_TRAIN };
static const m3ae_metric_def train_metrics[N_TRAIN] = {
    [T_LOSS] = {"loss", "loss", M3AE_METRIC_TOTAL, 0},
    [T_VQA] = {"vqa_loss", "vqa", M3AE_METRIC_STEP_MEAN, 0},
    [T_ACC] = {"vqa_acc", "vqa_acc", M3AE_METRIC_RATIO, 0},
};

/* Validation: unseen answers (label -1) count as wrong (the accuracy's denominator is every sample). */
enum { V_ACC, V_LOSS, N_VAL };
static const m3ae_metric_def val_metrics[N_VAL] = {
    [V_ACC] = {"vqa_acc", NULL, M3AE_METRIC_RATIO, 0},
    [V_LOSS] = {"vqa_loss", NULL, M3AE_METRIC_RATIO, 1},
};

static m3ae_task_source *source_open(void *ctx, const char *dir, int leases, int rank, int world, m3ae_error *err) {
    const m3ae_vqa_task_ctx *t = ctx;
    return m3ae_label_source_open(t, dir, leases, rank, world, "vqa", "VQA", "vqa-rad|slake|vqa-med-2019",
                                  t->cfg->model.vqa_labels, err);
}

static void counts(const void *batch, double *c) { c[DENOM_SAMPLES] = ((const m3ae_label_batch *)batch)->B; }

static m3ae_batch model_batch(const void *batch, uint64_t step, const double *d) {
    const m3ae_label_batch *s = batch;
    return (m3ae_batch){.B = s->B,
                        .images = s->images,
                        .text_ids = s->text_ids,
                        .text_masks = s->text_masks,
                        .vqa_labels = s->labels,
                        .sample_ids = s->sample_ids,
                        .step = step,
                        .vqa_denom = d ? d[DENOM_SAMPLES] : 0};
}

static void observe(const m3ae_losses *l, const void *batch, int validation, double *num, double *den) {
    const m3ae_label_batch *b = batch;
    if (!validation) {
        num[T_VQA] += l->vqa;
        num[T_ACC] += l->vqa_correct, den[T_ACC] += b->B;
        return;
    }
    num[V_LOSS] += l->vqa * b->B, den[V_LOSS] += b->B;
    num[V_ACC] += l->vqa_correct, den[V_ACC] += b->B;
}

static void flops(const m3ae_train_config *c, const m3ae_metric_set *interval, double *work, double *official,
                  char *detail, size_t detail_len) {
    (void)interval;
    m3ae_label_flops(c, c->model.vqa_labels, "VQA", work, official, detail, detail_len);
}

int m3ae_vqa_load_weights(const char *path, m3ae_model *m, int *fresh_head, m3ae_error *err) {
    return m3ae_task_load_weights(path, m, "vqa_head", fresh_head, err);
}

int m3ae_vqa_init_from(void *ctx, const char *path, m3ae_model *m, m3ae_error *err) {
    (void)ctx;
    return m3ae_vqa_load_weights(path, m, NULL, err);
}

m3ae_task m3ae_task_vqa(m3ae_vqa_task_ctx *ctx) {
    m3ae_task t = {.name = "VQA fine-tuning",
                   .ctx = ctx,
                   .passes = m3ae_vqa_passes(),
                   .train_metrics = train_metrics,
                   .n_train_metrics = N_TRAIN,
                   .val_metrics = val_metrics,
                   .n_val_metrics = N_VAL,
                   .open = source_open,
                   .n_denoms = N_DENOMS,
                   .counts = counts,
                   .model_batch = model_batch,
                   .observe = observe,
                   .flops = flops,
                   .init_from = m3ae_vqa_init_from};
    m3ae_task_source_bind(&t);
    return t;
}
