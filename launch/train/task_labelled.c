/* What the labelled fine-tuning tasks share (launch/train/task_labelled.h). */
#include "launch/train/task_labelled.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/ckpt.h"
#include "checkpoints/h5file.h"
#include "common/log.h"
#include "io/samplers/labelled.h"
#include "launch/train/task_source.h"
#include "model/flops.h"

static int n_labels(const m3ae_label_task_ctx *t) {
    const m3ae_config *c = &t->cfg->model;
    return t->desc->pass == M3AE_PASS_CLS ? c->cls_labels : c->vqa_labels;
}

static m3ae_task_source *source_open(void *ctx, const char *dir, int leases, int rank, int world, m3ae_error *err) {
    const m3ae_label_task_ctx *t = ctx;
    const m3ae_label_task_desc *d = t->desc;
    const m3ae_train_config *c = t->cfg;
    m3ae_task_dataset ds;
    if (m3ae_task_dataset_read(dir, d->task, d->what, d->formats, n_labels(t), &ds, err) != 0) return NULL;
    if (c->model.image_size > ds.store_size)
        m3ae_warn("dataset %s stores images with a shorter side of %d px; image_size = %d upsamples them", dir,
                  ds.store_size, c->model.image_size);
    m3ae_label_sampler *s = calloc(1, sizeof *s);
    if (!s) return m3ae_error_set(err, "out of memory"), NULL;
    /* random crops only for the training folder: validation and evaluation use clip */
    const int training = t->train_dir && !strcmp(dir, t->train_dir);
    m3ae_label_sampler_config sc = {.tokenizer = t->tok,
                                    .image_size = c->model.image_size,
                                    .max_text_len = c->model.max_text_len,
                                    .random_crop = (int)c->random_crop && training,
                                    .n_labels = n_labels(t),
                                    .seed = (uint64_t)c->seed};
    if (m3ae_label_sampler_init(s, &sc, err) != 0) return free(s), NULL;
    m3ae_pipeline_config pc = m3ae_task_pipeline_config(c, dir, leases, rank, world);
    return m3ae_task_source_open(&pc, m3ae_label_sampler_table(s), s, err);
}

enum { DENOM_SAMPLES, N_DENOMS };

static void counts(const void *batch, double *c) { c[DENOM_SAMPLES] = ((const m3ae_label_batch *)batch)->B; }

/* model_batch and observe need the pass, which the trainer's callbacks do not carry: one pair per
 * pass kind (the labels go to that pass's field of m3ae_batch, the loss comes from its fields of
 * m3ae_losses). */
static m3ae_batch label_batch(const void *batch, uint64_t step, const double *d, m3ae_pass pass) {
    const m3ae_label_batch *s = batch;
    m3ae_batch b = {.B = s->B,
                    .images = s->images,
                    .text_ids = s->text_ids,
                    .text_masks = s->text_masks,
                    .sample_ids = s->sample_ids,
                    .step = step};
    if (pass == M3AE_PASS_CLS) b.cls_labels = s->labels, b.cls_denom = d ? d[DENOM_SAMPLES] : 0;
    else b.vqa_labels = s->labels, b.vqa_denom = d ? d[DENOM_SAMPLES] : 0;
    return b;
}

static void label_observe(double loss, int correct, const void *batch, int validation, double *num, double *den) {
    const m3ae_label_batch *b = batch;
    if (!validation) {
        num[M3AE_LABEL_T_HEAD] += loss;
        num[M3AE_LABEL_T_ACC] += correct, den[M3AE_LABEL_T_ACC] += b->B;
        return;
    }
    num[M3AE_LABEL_V_LOSS] += loss * b->B, den[M3AE_LABEL_V_LOSS] += b->B;
    num[M3AE_LABEL_V_ACC] += correct, den[M3AE_LABEL_V_ACC] += b->B;
}

static m3ae_batch vqa_batch(const void *batch, uint64_t step, const double *d) {
    return label_batch(batch, step, d, M3AE_PASS_VQA);
}
static m3ae_batch cls_batch(const void *batch, uint64_t step, const double *d) {
    return label_batch(batch, step, d, M3AE_PASS_CLS);
}
static void vqa_observe(const m3ae_losses *l, const void *batch, int validation, double *num, double *den) {
    label_observe(l->vqa, l->vqa_correct, batch, validation, num, den);
}
static void cls_observe(const m3ae_losses *l, const void *batch, int validation, double *num, double *den) {
    label_observe(l->cls, l->cls_correct, batch, validation, num, den);
}

/* flops has the configuration but not the task: the head width from whichever head is configured
 * (a labelled run configures exactly one). */
static void flops(const m3ae_train_config *c, const m3ae_metric_set *interval, double *work, double *official,
                  char *detail, size_t detail_len) {
    (void)interval;
    m3ae_flops f;
    m3ae_flops_compute(&c->model, &f);
    const int n_labels = c->model.cls_labels > 0 ? c->model.cls_labels : c->model.vqa_labels;
    const double H2 = 2.0 * c->model.hidden_size, n = n_labels;
    const double head = 2 * (H2 * H2 + H2 * n);
    *work = *official = 3 * (f.forward[2] - f.head[2] + head);
    if (detail)
        snprintf(detail, detail_len, "%s pass (text + full image, %d labels)", c->model.cls_labels > 0 ? "CLS" : "VQA",
                 n_labels);
}

static int init_from(void *ctx, const char *path, m3ae_model *m, m3ae_error *err) {
    const m3ae_label_task_ctx *t = ctx;
    return m3ae_task_load_weights(path, m, t->desc->head, NULL, err);
}

m3ae_task m3ae_label_task(m3ae_label_task_ctx *ctx, const m3ae_label_task_desc *d) {
    ctx->desc = d;
    const int cls = d->pass == M3AE_PASS_CLS;
    m3ae_task t = {.name = d->name,
                   .ctx = ctx,
                   .passes = d->passes(),
                   .train_metrics = d->train_metrics,
                   .n_train_metrics = M3AE_LABEL_N_TRAIN,
                   .val_metrics = d->val_metrics,
                   .n_val_metrics = M3AE_LABEL_N_VAL,
                   .open = source_open,
                   .n_denoms = N_DENOMS,
                   .counts = counts,
                   .model_batch = cls ? cls_batch : vqa_batch,
                   .observe = cls ? cls_observe : vqa_observe,
                   .flops = flops,
                   .init_from = init_from};
    m3ae_task_source_bind(&t);
    return t;
}

/* ---- the start from a checkpoint ---- */

#define POS_NAME "vision_encoder.visual.positional_embedding"

int m3ae_task_load_weights(const char *path, m3ae_model *m, const char *head, int *fresh_head, m3ae_error *err) {
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
    /* the heads of a fine-tuned checkpoint; none in a pretraining one */
    sc.vqa_labels = m3ae_h5_exists(f, "/model/vqa_head.3.bias") == 1 ? dst->vqa_labels : 0;
    sc.cls_labels = m3ae_h5_exists(f, "/model/cls_head.3.bias") == 1 ? dst->cls_labels : 0;
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
    const size_t hl = strlen(head);
    char fresh_names[512] = "";
    if (fresh_head) *fresh_head = 0;
    for (int i = 0; rc == 0 && i < mr->n; i++) {
        const m3ae_param *p = &mr->p[i];
        char h5name[M3AE_PARAM_NAME_LEN + 8];
        snprintf(h5name, sizeof h5name, "/model/%s", p->name);
        const int k = m3ae_h5_exists(f, h5name) == 1 ? m3ae_registry_find(&cr, p->name) : -1;
        if (k < 0) {
            if (fresh_head && !strncmp(p->name, head, hl) && p->name[hl] == '.') (*fresh_head)++;
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

