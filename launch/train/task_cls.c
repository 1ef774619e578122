/* The classification fine-tuning task (launch/train/task_cls.h). */
#include "launch/train/task_cls.h"

#include "io/samplers/labelled.h"
#include "launch/train/task_source.h"
#include "model/tasks/cls.h"

enum { DENOM_SAMPLES, N_DENOMS };

enum { T_LOSS, T_CLS, T_ACC, N_TRAIN };
static const m3ae_metric_def train_metrics[N_TRAIN] = {
    [T_LOSS] = {"loss", "loss", M3AE_METRIC_TOTAL, 0},
    [T_CLS] = {"cls_loss", "cls", M3AE_METRIC_STEP_MEAN, 0},
    [T_ACC] = {"cls_acc", "cls_acc", M3AE_METRIC_RATIO, 0},
};

/* Validation: a class outside the training vocabulary (label -1) counts as wrong. */
enum { V_ACC, V_LOSS, N_VAL };
static const m3ae_metric_def val_metrics[N_VAL] = {
    [V_ACC] = {"cls_acc", NULL, M3AE_METRIC_RATIO, 0},
    [V_LOSS] = {"cls_loss", NULL, M3AE_METRIC_RATIO, 1},
};

static m3ae_task_source *source_open(void *ctx, const char *dir, int leases, int rank, int world, m3ae_error *err) {
    const m3ae_label_task_ctx *t = ctx;
    return m3ae_label_source_open(t, dir, leases, rank, world, "cls", "classification", "melinda",
                                  t->cfg->model.cls_labels, err);
}

static void counts(const void *batch, double *c) { c[DENOM_SAMPLES] = ((const m3ae_label_batch *)batch)->B; }

static m3ae_batch model_batch(const void *batch, uint64_t step, const double *d) {
    const m3ae_label_batch *s = batch;
    return (m3ae_batch){.B = s->B,
                        .images = s->images,
                        .text_ids = s->text_ids,
                        .text_masks = s->text_masks,
                        .cls_labels = s->labels,
                        .sample_ids = s->sample_ids,
                        .step = step,
                        .cls_denom = d ? d[DENOM_SAMPLES] : 0};
}

static void observe(const m3ae_losses *l, const void *batch, int validation, double *num, double *den) {
    const m3ae_label_batch *b = batch;
    if (!validation) {
        num[T_CLS] += l->cls;
        num[T_ACC] += l->cls_correct, den[T_ACC] += b->B;
        return;
    }
    num[V_LOSS] += l->cls * b->B, den[V_LOSS] += b->B;
    num[V_ACC] += l->cls_correct, den[V_ACC] += b->B;
}

static void flops(const m3ae_train_config *c, const m3ae_metric_set *interval, double *work, double *official,
                  char *detail, size_t detail_len) {
    (void)interval;
    m3ae_label_flops(c, c->model.cls_labels, "CLS", work, official, detail, detail_len);
}

int m3ae_cls_init_from(void *ctx, const char *path, m3ae_model *m, m3ae_error *err) {
    (void)ctx;
    return m3ae_task_load_weights(path, m, "cls_head", NULL, err);
}

m3ae_task m3ae_task_cls(m3ae_label_task_ctx *ctx) {
    m3ae_task t = {.name = "classification fine-tuning",
                   .ctx = ctx,
                   .passes = m3ae_cls_passes(),
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
                   .init_from = m3ae_cls_init_from};
    m3ae_task_source_bind(&t);
    return t;
}
