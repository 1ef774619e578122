/* The VQA fine-tuning task (launch/train/task_vqa.h). */
#include "launch/train/task_vqa.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/ckpt.h"
#include "checkpoints/h5file.h"
#include "common/log.h"
#include "io/manifest.h"
#include "io/pipeline.h"
#include "io/samplers/vqa.h"
#include "model/flops.h"
#include "model/tasks/vqa.h"

struct m3ae_task_source {
    m3ae_vqa_sampler sampler; /* the pipeline's sampler ctx points here */
    m3ae_pipeline *p;
};

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
    const m3ae_train_config *c = t->cfg;
    m3ae_manifest man;
    if (m3ae_manifest_read(dir, &man, err) != 0) return NULL;
    const uint64_t samples = man.samples;
    const int is_vqa = !strcmp(man.task.task, "vqa");
    const uint32_t n_labels = man.task.n_labels;
    const int store = man.store_size;
    m3ae_manifest_free(&man);
    if (!is_vqa)
        return m3ae_error_set(err, "dataset %s is not a VQA dataset (its manifest has no task \"vqa\"); convert it with "
                              "m3ae prep --format vqa-rad|slake|vqa-med-2019", dir), NULL;
    if ((int)n_labels != c->model.vqa_labels)
        return m3ae_error_set(err, "dataset %s has %u answer labels but the model's VQA head has %d: prepare every split "
                              "with --answer-vocab TRAIN_DIR so that they share the training vocabulary", dir, n_labels,
                              c->model.vqa_labels), NULL;
    if (samples == 0) return m3ae_error_set(err, "dataset %s holds no questions", dir), NULL;
    if (c->model.image_size > store)
        m3ae_warn("dataset %s stores images with a shorter side of %d px; image_size = %d upsamples them", dir, store,
                  c->model.image_size);
    m3ae_task_source *s = calloc(1, sizeof *s);
    if (!s) return m3ae_error_set(err, "out of memory"), NULL;
    /* random crops only for the training folder: validation and evaluation use clip */
    const int training = t->train_dir && !strcmp(dir, t->train_dir);
    m3ae_vqa_sampler_config sc = {.tokenizer = t->tok,
                                  .image_size = c->model.image_size,
                                  .max_text_len = c->model.max_text_len,
                                  .random_crop = (int)c->random_crop && training,
                                  .n_labels = (int)n_labels,
                                  .seed = (uint64_t)c->seed};
    m3ae_pipeline_config pc = {.data_dir = dir,
                               .batch_size = (int)c->per_gpu_batchsize,
                               .seed = (uint64_t)c->seed,
                               .rank = rank,
                               .world = world,
                               .threads = (int)c->loader_threads,
                               .leases = leases};
    if (m3ae_vqa_sampler_init(&s->sampler, &sc, err) != 0) {
        free(s);
        return NULL;
    }
    m3ae_sampler table = m3ae_vqa_sampler_table(&s->sampler);
    s->p = m3ae_pipeline_open(&pc, &table, err);
    if (!s->p) {
        free(s);
        return NULL;
    }
    return s;
}

static void source_close(m3ae_task_source *s) {
    if (!s) return;
    m3ae_pipeline_close(s->p);
    free(s);
}

static int source_next(m3ae_task_source *s, const void **batch, m3ae_error *err) {
    void *b;
    int rc = m3ae_pipeline_lease(s->p, &b, err);
    *batch = b;
    return rc;
}

static void source_release(m3ae_task_source *s, const void *batch) { m3ae_pipeline_release(s->p, batch); }
static void source_get_state(const m3ae_task_source *s, uint64_t *epoch, uint64_t *position) {
    m3ae_pipeline_get_state(s->p, epoch, position);
}
static int source_set_state(m3ae_task_source *s, uint64_t epoch, uint64_t position, m3ae_error *err) {
    return m3ae_pipeline_set_state(s->p, epoch, position, err);
}
static uint64_t source_num_samples(const m3ae_task_source *s) { return m3ae_pipeline_num_samples(s->p); }
static uint64_t source_samples_per_rank(const m3ae_task_source *s) { return m3ae_pipeline_samples_per_rank(s->p); }
static uint64_t source_batches_per_epoch(const m3ae_task_source *s) { return m3ae_pipeline_batches_per_epoch(s->p); }

static void counts(const void *batch, double *c) { c[DENOM_SAMPLES] = ((const m3ae_vqa_batch *)batch)->B; }

static m3ae_batch model_batch(const void *batch, uint64_t step, const double *d) {
    const m3ae_vqa_batch *s = batch;
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
    const m3ae_vqa_batch *b = batch;
    if (!validation) {
        num[T_VQA] += l->vqa;
        num[T_ACC] += l->vqa_correct, den[T_ACC] += b->B;
        return;
    }
    num[V_LOSS] += l->vqa * b->B, den[V_LOSS] += b->B;
    num[V_ACC] += l->vqa_correct, den[V_ACC] += b->B;
}

/* The VQA pass is the ITM pass's backbone (question + full image, fusion to the poolers) with the
 * VQA head instead of the ITM head; its backward reaches everything, like ITM: 3 x forward. */
static void flops(const m3ae_train_config *c, const m3ae_metric_set *interval, double *work, double *official,
                  char *detail, size_t detail_len) {
    (void)interval;
    m3ae_flops f;
    m3ae_flops_compute(&c->model, &f);
    const double H2 = 2.0 * c->model.hidden_size, n = c->model.vqa_labels;
    const double head = 2 * (H2 * H2 + H2 * n);
    *work = *official = 3 * (f.forward[2] - f.head[2] + head);
    if (detail) snprintf(detail, detail_len, "VQA pass (question + full image, %d labels)", c->model.vqa_labels);
}

/* ---- the start from a checkpoint ---- */

#define POS_NAME "vision_encoder.visual.positional_embedding"

int m3ae_vqa_load_weights(const char *path, m3ae_model *m, int *fresh_head, m3ae_error *err) {
    m3ae_ckpt_meta *meta = calloc(1, sizeof *meta);
    m3ae_train_config *src = calloc(1, sizeof *src);
    if (!meta || !src) return free(meta), free(src), m3ae_error_set(err, "out of memory");
    int rc = m3ae_ckpt_read_meta(path, meta, err);
    m3ae_train_config_defaults(src);
    if (rc == 0 && m3ae_train_config_from_text(src, meta->config, err) != 0)
        rc = m3ae_error_set(err, "checkpoint %s: its configuration text does not parse (%s)", path, err->msg);
    free(meta);
    if (rc != 0) return free(src), -1;
    /* the checkpoint's own layout: its model keys, and the VQA head if it has one */
    const m3ae_config *dst = m3ae_model_config(m);
    m3ae_config sc = src->model;
    free(src);
    const m3ae_registry *mr = m3ae_model_registry(m);
    m3ae_h5 *f = m3ae_h5_open(path, err); /* which tensors the file holds */
    if (!f) return -1;
    /* the head of a fine-tuned checkpoint; none in a pretraining one */
    sc.vqa_labels = m3ae_h5_exists(f, "/model/vqa_head.3.bias") == 1 ? dst->vqa_labels : 0;
    m3ae_registry cr;
    m3ae_registry_build(&cr, &sc);
    float *cp = malloc(cr.arena_floats * sizeof(float));
    if (!cp) return m3ae_h5_close(f), m3ae_registry_free(&cr), m3ae_error_set(err, "out of memory reading %s", path);
    /* non-strict: a converted official fine-tuned checkpoint has no MLM/MIM heads */
    rc = m3ae_ckpt_load(path, &cr, cp, NULL, NULL, NULL, 0, err);
    if (rc == 0 && sc.vision_width != dst->vision_width)
        rc = m3ae_error_set(err, "checkpoint %s has vision_width %d, the model %d", path, sc.vision_width, dst->vision_width);
    m3ae_backend *be = m3ae_model_backend(m);
    float *params = m3ae_model_params(m);
    float *host = rc == 0 ? malloc(mr->arena_floats * sizeof(float)) : NULL;
    if (rc == 0 && !host) rc = m3ae_error_set(err, "out of memory");
    if (rc == 0) be->ops->download(be, host, params, mr->arena_floats * sizeof(float));
    int fresh = 0;
    char fresh_names[512] = "";
    if (fresh_head) *fresh_head = 0;
    for (int i = 0; rc == 0 && i < mr->n; i++) {
        const m3ae_param *p = &mr->p[i];
        char h5name[M3AE_PARAM_NAME_LEN + 8];
        snprintf(h5name, sizeof h5name, "/model/%s", p->name);
        const int k = m3ae_h5_exists(f, h5name) == 1 ? m3ae_registry_find(&cr, p->name) : -1;
        if (k < 0) {
            if (fresh_head && !strncmp(p->name, "vqa_head.", 9)) (*fresh_head)++;
            size_t len = strlen(fresh_names);
            if (fresh++ < 8) snprintf(fresh_names + len, sizeof fresh_names - len, "%s%s", len ? ", " : "", p->name);
            continue;
        }
        const m3ae_param *q = &cr.p[k];
        if (!strcmp(p->name, POS_NAME) && q->numel != p->numel) {
            const int gi = sc.image_size / sc.patch_size, go = dst->image_size / dst->patch_size;
            m3ae_pos_resize_bicubic(host + p->offset, go, cp + q->offset, gi, dst->vision_width);
            m3ae_info("resized %s from a %dx%d to a %dx%d patch grid (bicubic)", POS_NAME, gi, gi, go, go);
            continue;
        }
        if (!p->trainable && q->numel != p->numel) continue; /* a fixed table of the grid (MIM sin-cos): the model's */
        if (q->numel != p->numel)
            rc = m3ae_error_set(err, "checkpoint %s: %s has %zu values, the model %zu (another architecture: use the "
                                "checkpoint's preset)", path, p->name, q->numel, p->numel);
        else
            memcpy(host + p->offset, cp + q->offset, p->numel * sizeof(float));
    }
    if (rc == 0) {
        be->ops->upload(be, params, host, mr->arena_floats * sizeof(float));
        be->ops->sync(be);
        m3ae_info("initialised the weights from %s; %d tensor(s) fresh (%s%s)", path, fresh, fresh_names,
                  fresh > 8 ? ", ..." : "");
    }
    if (f) m3ae_h5_close(f);
    free(host);
    free(cp);
    m3ae_registry_free(&cr);
    return rc;
}

int m3ae_vqa_init_from(void *ctx, const char *path, m3ae_model *m, m3ae_error *err) {
    (void)ctx;
    return m3ae_vqa_load_weights(path, m, NULL, err);
}

m3ae_task m3ae_task_vqa(m3ae_vqa_task_ctx *ctx) {
    return (m3ae_task){.name = "VQA fine-tuning",
                       .ctx = ctx,
                       .passes = m3ae_vqa_passes(),
                       .train_metrics = train_metrics,
                       .n_train_metrics = N_TRAIN,
                       .val_metrics = val_metrics,
                       .n_val_metrics = N_VAL,
                       .open = source_open,
                       .close = source_close,
                       .next = source_next,
                       .release = source_release,
                       .get_state = source_get_state,
                       .set_state = source_set_state,
                       .num_samples = source_num_samples,
                       .samples_per_rank = source_samples_per_rank,
                       .batches_per_epoch = source_batches_per_epoch,
                       .n_denoms = N_DENOMS,
                       .counts = counts,
                       .model_batch = model_batch,
                       .observe = observe,
                       .flops = flops,
                       .init_from = m3ae_vqa_init_from};
}
