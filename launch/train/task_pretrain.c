/* The pretraining task (launch/train/task_pretrain.h). */
#include "launch/train/task_pretrain.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/log.h"
#include "io/masks.h"
#include "io/pipeline.h"
#include "io/samplers/pretrain.h"
#include "launch/train/task_source.h"
#include "model/flops.h"
#include "model/tasks/pretrain.h"

/* The loss denominators, in the order of m3ae_batch's: MLM labelled tokens, MIM removed patches,
 * ITM pairs. */
enum { DENOM_MLM, DENOM_MIM, DENOM_ITM, N_DENOMS };

/* Training: losses are normalised by global counts, so the per-step sums are the step's means;
 * "loss" is their sum. The order is the log line's and metrics.jsonl's. */
enum { T_LOSS, T_MLM, T_MIM, T_ITM, T_MLM_ACC, T_ITM_ACC, N_TRAIN };
static const m3ae_metric_def train_metrics[N_TRAIN] = {
    [T_LOSS] = {"loss", "loss", M3AE_METRIC_TOTAL, 0},
    [T_MLM] = {"mlm_loss", "mlm", M3AE_METRIC_STEP_MEAN, 0},
    [T_MIM] = {"mim_loss", "mim", M3AE_METRIC_STEP_MEAN, 0},
    [T_ITM] = {"itm_loss", "itm", M3AE_METRIC_STEP_MEAN, 0},
    [T_MLM_ACC] = {"mlm_acc", "mlm_acc", M3AE_METRIC_RATIO, 0},
    [T_ITM_ACC] = {"itm_acc", "itm_acc", M3AE_METRIC_RATIO, 0},
};

/* Validation: each batch's losses are its own means, so they are weighted by their counts. */
enum { V_MLM_ACC, V_ITM_ACC, V_MIM_LOSS, V_MLM_LOSS, V_ITM_LOSS, N_VAL };
static const m3ae_metric_def val_metrics[N_VAL] = {
    [V_MLM_ACC] = {"mlm_acc", NULL, M3AE_METRIC_RATIO, 0},
    [V_ITM_ACC] = {"itm_acc", NULL, M3AE_METRIC_RATIO, 0},
    [V_MIM_LOSS] = {"mim_loss", NULL, M3AE_METRIC_RATIO, 0},
    [V_MLM_LOSS] = {"mlm_loss", NULL, M3AE_METRIC_RATIO, 1},
    [V_ITM_LOSS] = {"itm_loss", NULL, M3AE_METRIC_RATIO, 1},
};

static m3ae_task_source *source_open(void *ctx, const char *dir, int leases, int rank, int world, m3ae_error *err) {
    const m3ae_pretrain_task_ctx *t = ctx;
    const m3ae_train_config *c = t->cfg;
    m3ae_task_dataset ds;
    if (m3ae_task_dataset_read(dir, "", "pretraining", "jsonl|medicat|roco", -1, &ds, err) != 0) return NULL;
    if (c->model.image_size > ds.store_size)
        m3ae_warn("dataset %s stores images with a shorter side of %d px; image_size = %d upsamples them (re-run m3ae "
                  "prep with --store-size %d for full resolution)", dir, ds.store_size, c->model.image_size,
                  c->model.image_size);
    m3ae_pretrain_sampler *s = calloc(1, sizeof *s);
    if (!s) return m3ae_error_set(err, "out of memory"), NULL;
    m3ae_pretrain_sampler_config sc = {
        .tokenizer = t->tok,
        .image_size = c->model.image_size,
        .patch_size = c->model.patch_size,
        .max_text_len = c->model.max_text_len,
        .mim_ratio = c->model.mim_prob,
        .mlm_prob = (float)c->model.mlm_prob,
        .mlm_mode = strcmp(c->mlm_mode, "bernoulli") ? M3AE_MLM_OFFICIAL : M3AE_MLM_BERNOULLI,
        .random_crop = (int)c->random_crop,
        .seed = (uint64_t)c->seed,
    };
    if (m3ae_pretrain_sampler_init(s, &sc, err) != 0) return free(s), NULL;
    m3ae_pipeline_config pc = m3ae_task_pipeline_config(c, dir, leases, rank, world);
    /* the trainer leases a whole optimizer step's micro-batches (one for validation): the epoch is
     * then defined by the global batch */
    pc.accum = leases;
    return m3ae_task_source_open(&pc, m3ae_pretrain_sampler_table(s), s, err);
}

static void counts(const void *batch, double *c) {
    const m3ae_pretrain_batch *b = batch;
    c[DENOM_MLM] = (double)b->n_mlm_masked, c[DENOM_MIM] = (double)b->n_mim_masked, c[DENOM_ITM] = b->B;
}

/* The leased batch read in place; the global denominators (at least 1 labelled token and patch, so
 * that a batch without any does not divide by zero), or this batch's own counts (denoms NULL). */
static m3ae_batch model_batch(const void *batch, uint64_t step, const double *d) {
    const m3ae_pretrain_batch *s = batch;
    m3ae_batch b = {.B = s->B,
                    .images = s->images,
                    .itm_images = s->itm_images,
                    .text_ids = s->text_ids,
                    .text_masks = s->text_masks,
                    .mlm_ids = s->mlm_ids,
                    .mlm_labels = s->mlm_labels,
                    .mim_ids_shuffle = s->mim_ids_shuffle,
                    .itm_labels = s->itm_labels,
                    .sample_ids = s->sample_ids,
                    .step = step,
                    .mlm_denom = d ? (d[DENOM_MLM] > 1 ? d[DENOM_MLM] : 1) : 0,
                    .mim_denom = d ? (d[DENOM_MIM] > 1 ? d[DENOM_MIM] : 1) : 0,
                    .itm_denom = d ? d[DENOM_ITM] : 0};
    return b;
}

static void observe(const m3ae_losses *l, const void *batch, int validation, double *num, double *den) {
    const m3ae_pretrain_batch *b = batch;
    if (!validation) {
        num[T_MLM] += l->mlm, num[T_MIM] += l->mim, num[T_ITM] += l->itm;
        num[T_MLM_ACC] += l->mlm_correct, den[T_MLM_ACC] += l->mlm_count;
        num[T_ITM_ACC] += l->itm_correct, den[T_ITM_ACC] += b->B;
        return;
    }
    num[V_MLM_LOSS] += l->mlm * l->mlm_count, den[V_MLM_LOSS] += l->mlm_count;
    num[V_MLM_ACC] += l->mlm_correct, den[V_MLM_ACC] += l->mlm_count;
    num[V_MIM_LOSS] += l->mim * l->mim_count, den[V_MIM_LOSS] += l->mim_count;
    num[V_ITM_LOSS] += l->itm * b->B, den[V_ITM_LOSS] += b->B;
    num[V_ITM_ACC] += l->itm_correct, den[V_ITM_ACC] += b->B;
}

/* The work at the interval's labelled rows per sample (the MLM accuracy's denominator over the ITM
 * accuracy's, which counts samples), or at the official draw count round(L * mlm_prob). */
static void flops(const m3ae_train_config *c, const m3ae_metric_set *interval, double *work, double *official,
                  char *detail, size_t detail_len) {
    double rows = fmax(1, nearbyint(c->model.max_text_len * c->model.mlm_prob));
    if (interval && interval->den[T_ITM_ACC] > 0) rows = interval->den[T_MLM_ACC] / interval->den[T_ITM_ACC];
    m3ae_flops_work w;
    m3ae_flops_work_compute(&c->model, rows, &w);
    m3ae_flops f;
    m3ae_flops_compute(&c->model, &f);
    *work = w.train_total, *official = f.train_total;
    if (detail) snprintf(detail, detail_len, "MLM head on %.3g labelled rows, backward on the gradient path", rows);
}

m3ae_task m3ae_task_pretrain(m3ae_pretrain_task_ctx *ctx) {
    m3ae_task t = {.name = "pretraining",
                   .ctx = ctx,
                   .passes = m3ae_pretrain_passes(ctx->cfg->model.objective),
                   .train_metrics = train_metrics,
                   .n_train_metrics = N_TRAIN,
                   .val_metrics = val_metrics,
                   .n_val_metrics = N_VAL,
                   .open = source_open,
                   .n_denoms = N_DENOMS,
                   .counts = counts,
                   .model_batch = model_batch,
                   .observe = observe,
                   .flops = flops};
    m3ae_task_source_bind(&t);
    return t;
}
