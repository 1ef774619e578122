/* The retrieval fine-tuning task (launch/train/task_irtr.h). */
#include "launch/train/task_irtr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/h5file.h"
#include "common/log.h"
#include "io/manifest.h"
#include "io/pipeline.h"
#include "io/samplers/irtr.h"
#include "launch/eval_irtr.h"
#include "launch/train/task_source.h"
#include "launch/train/task_vqa.h"
#include "model/flops.h"
#include "model/tasks/irtr.h"

enum { DENOM_IMAGES, N_DENOMS };

enum { T_LOSS, T_IRTR, T_ACC, N_TRAIN };
static const m3ae_metric_def train_metrics[N_TRAIN] = {
    [T_LOSS] = {"loss", "loss", M3AE_METRIC_TOTAL, 0},
    [T_IRTR] = {"irtr_loss", "irtr", M3AE_METRIC_STEP_MEAN, 0},
    [T_ACC] = {"irtr_acc", "irtr_acc", M3AE_METRIC_RATIO, 0},
};

/* Validation on the val split's candidate batches (the recall follows in after_validation). */
enum { V_ACC, V_LOSS, N_VAL };
static const m3ae_metric_def val_metrics[N_VAL] = {
    [V_ACC] = {"irtr_acc", NULL, M3AE_METRIC_RATIO, 0},
    [V_LOSS] = {"irtr_loss", NULL, M3AE_METRIC_RATIO, 1},
};

/* The sampler's own allocations (the source frees the struct). */
static void sampler_destroy(void *smp) { m3ae_irtr_sampler_free(smp); }

static m3ae_task_source *source_open(void *ctx, const char *dir, int leases, int rank, int world, m3ae_error *err) {
    const m3ae_irtr_task_ctx *t = ctx;
    const m3ae_train_config *c = t->cfg;
    m3ae_manifest man;
    if (m3ae_manifest_read(dir, &man, err) != 0) return NULL;
    const int store = man.store_size;
    m3ae_manifest_free(&man);
    if (c->model.image_size > store)
        m3ae_warn("dataset %s stores images with a shorter side of %d px; image_size = %d upsamples them", dir, store,
                  c->model.image_size);
    m3ae_irtr_sampler *smp = calloc(1, sizeof *smp);
    if (!smp) return m3ae_error_set(err, "out of memory"), NULL;
    const int training = t->train_dir && !strcmp(dir, t->train_dir);
    m3ae_irtr_sampler_config sc = {.tokenizer = t->tok,
                                   .image_size = c->model.image_size,
                                   .max_text_len = c->model.max_text_len,
                                   .random_crop = (int)c->random_crop && training,
                                   .candidates = (int)c->irtr_candidates,
                                   .seed = (uint64_t)c->seed};
    if (m3ae_irtr_sampler_init(smp, dir, &sc, err) != 0) return free(smp), NULL;
    m3ae_pipeline_config pc = m3ae_task_pipeline_config(c, dir, leases, rank, world);
    return m3ae_task_source_open_with(&pc, m3ae_irtr_sampler_table(smp), smp, sampler_destroy, err);
}

static void counts(const void *batch, double *c) { c[DENOM_IMAGES] = ((const m3ae_irtr_batch *)batch)->B; }

static m3ae_batch model_batch(const void *batch, uint64_t step, const double *d) {
    const m3ae_irtr_batch *s = batch;
    return (m3ae_batch){.B = s->B * s->K,
                        .images = s->images,
                        .text_ids = s->text_ids,
                        .text_masks = s->text_masks,
                        .sample_ids = s->sample_ids,
                        .irtr_candidates = s->K,
                        .step = step,
                        .irtr_denom = d ? d[DENOM_IMAGES] : 0};
}

static void observe(const m3ae_losses *l, const void *batch, int validation, double *num, double *den) {
    const m3ae_irtr_batch *b = batch;
    if (!validation) {
        num[T_IRTR] += l->irtr;
        num[T_ACC] += l->irtr_correct, den[T_ACC] += b->B;
        return;
    }
    num[V_LOSS] += l->irtr * b->B, den[V_LOSS] += b->B;
    num[V_ACC] += l->irtr_correct, den[V_ACC] += b->B;
}

/* Per sample (an image and its K captions): the official runs the ITM-pass backbone on K pairs, the
 * image encoder K times; here it runs once (work). Backward reaches everything: 3 x forward. */
static void flops(const m3ae_train_config *c, const m3ae_metric_set *interval, double *work, double *official,
                  char *detail, size_t detail_len) {
    (void)interval;
    m3ae_flops f;
    m3ae_flops_compute(&c->model, &f);
    const double K = (double)c->irtr_candidates, head = 2.0 * 2 * c->model.hidden_size;
    const double pair = f.forward[2] - f.head[2] + head, vision = f.vision[2];
    *official = 3 * K * pair;
    *work = 3 * (K * (pair - vision) + vision);
    if (detail)
        snprintf(detail, detail_len, "IRTR pass (an image and %lld captions, the image encoded once)",
                 (long long)c->irtr_candidates);
}

static void after_validation(void *ctx, m3ae_model *m, int64_t step, int rank) {
    const m3ae_irtr_task_ctx *t = ctx;
    if (rank != 0 || !t->val_dir) return;
    m3ae_irtr_result r;
    m3ae_error err;
    if (m3ae_irtr_evaluate(m, t->tok, t->val_dir, m3ae_irtr_grouping_of(t->val_dir), (uint64_t)t->cfg->irtr_val_images, 0, NULL, &r,
                           &err) != 0) {
        m3ae_warn("validation recall at step %lld failed: %s", (long long)step, err.msg);
        return;
    }
    m3ae_info("validation recall at step %lld (%d images x %d texts, %.1f s): i2t R@1 %.4f R@5 %.4f R@10 %.4f, t2i "
              "R@1 %.4f R@5 %.4f R@10 %.4f", (long long)step, r.n_images, r.n_texts, r.seconds, r.i2t[0], r.i2t[1],
              r.i2t[2], r.t2i[0], r.t2i[1], r.t2i[2]);
}

/* ---- the start from a checkpoint ---- */

int m3ae_irtr_init_from(void *ctx, const char *path, m3ae_model *m, m3ae_error *err) {
    (void)ctx;
    if (m3ae_vqa_load_weights(path, m, NULL, err)) return -1;
    m3ae_h5 *f = m3ae_h5_open(path, err);
    if (!f) return -1;
    const int has_irtr = m3ae_h5_exists(f, "/model/irtr_head.weight") == 1;
    const int has_itm = m3ae_h5_exists(f, "/model/itm_head.fc.weight") == 1;
    m3ae_h5_close(f);
    if (has_irtr) return 0; /* loaded by name */
    if (!has_itm)
        return m3ae_error_set(err, "checkpoint %s has no itm_head to start the irtr_head from (use a pretraining "
                              "checkpoint)", path);
    /* irtr_head <- the ITM match row (official m3ae_module.py:138-141) */
    const m3ae_registry *reg = m3ae_model_registry(m);
    const int H2 = 2 * m3ae_model_config(m)->hidden_size;
    const int kw = m3ae_registry_find(reg, "itm_head.fc.weight"), kb = m3ae_registry_find(reg, "itm_head.fc.bias");
    const int iw = m3ae_registry_find(reg, "irtr_head.weight"), ib = m3ae_registry_find(reg, "irtr_head.bias");
    if (kw < 0 || kb < 0 || iw < 0 || ib < 0) return m3ae_error_set(err, "the model has no irtr_head (irtr_head = 1)");
    m3ae_backend *be = m3ae_model_backend(m);
    float *params = m3ae_model_params(m);
    be->ops->copy(be, params + reg->p[iw].offset, params + reg->p[kw].offset + H2, (size_t)H2);
    be->ops->copy(be, params + reg->p[ib].offset, params + reg->p[kb].offset + 1, 1);
    be->ops->sync(be);
    m3ae_info("irtr_head initialised from the ITM head's match row (itm_head.fc.weight[1], bias[1]); itm_head frozen");
    return 0;
}

m3ae_task m3ae_task_irtr(m3ae_irtr_task_ctx *ctx) {
    m3ae_task t = {.name = "retrieval fine-tuning",
                   .ctx = ctx,
                   .passes = m3ae_irtr_passes(),
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
                   .init_from = m3ae_irtr_init_from,
                   .rows_per_sample = (int)ctx->cfg->irtr_candidates,
                   .after_validation = after_validation};
    m3ae_task_source_bind(&t);
    return t;
}
