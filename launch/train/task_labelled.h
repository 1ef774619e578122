/* What the fine-tuning tasks with one label per sample share (VQA: launch/train/task_vqa.h;
 * classification: launch/train/task_cls.h) as one trainer task parameterised by a descriptor: the
 * labelled sampler's source over a downstream folder (clip_resizedcrop only for the training folder
 * when random_crop = 1, clip for validation), the metrics, the FLOPs of a pooled-head pass, and the
 * start from a checkpoint (m3ae_task_load_weights: every
 * backbone tensor by name, the vision position embeddings resized bicubically when the checkpoint
 * has another image size, the head fresh unless the checkpoint has it). */
#ifndef M3AE_LAUNCH_TRAIN_TASK_LABELLED_H
#define M3AE_LAUNCH_TRAIN_TASK_LABELLED_H

#include <stddef.h>

#include "io/tokenizer.h"
#include "launch/train/trainer.h"
#include "launch/train_config.h"
#include "model/tasks/passes.h"

/* What differs between the labelled tasks: names, the pass and its pass list, the metric tables. */
typedef struct {
    const char *name;    /* for messages: "VQA fine-tuning" */
    const char *task;    /* manifest task: "vqa" */
    const char *what;    /* "VQA" */
    const char *formats; /* m3ae prep formats of its datasets: "vqa-rad|slake|vqa-med-2019" */
    const char *head;    /* registry prefix of its head: "vqa_head" */
    m3ae_pass pass;      /* M3AE_PASS_VQA or M3AE_PASS_CLS: its loss fields and label count */
    m3ae_pass_list (*passes)(void);
    /* M3AE_LABEL_T_LOSS, M3AE_LABEL_T_HEAD, M3AE_LABEL_T_ACC and M3AE_LABEL_V_ACC, M3AE_LABEL_V_LOSS, in this order */
    const m3ae_metric_def *train_metrics, *val_metrics;
} m3ae_label_task_desc;

enum { M3AE_LABEL_T_LOSS, M3AE_LABEL_T_HEAD, M3AE_LABEL_T_ACC, M3AE_LABEL_N_TRAIN };
enum { M3AE_LABEL_V_ACC, M3AE_LABEL_V_LOSS, M3AE_LABEL_N_VAL };

/* cfg (with its head's label count set) and tok are borrowed and must outlive the task's use. */
typedef struct {
    const m3ae_train_config *cfg;
    const m3ae_tokenizer *tok;
    const char *train_dir; /* the folder whose source gets clip_resizedcrop (random_crop = 1); NULL: none */
    const m3ae_label_task_desc *desc; /* set by m3ae_label_task */
} m3ae_label_task_ctx;

/* The trainer task of desc over ctx (borrowed; ctx->desc is set here): the labelled sampler's
 * source over a folder of desc->task with the head's label count, one loss denominator (the samples
 * of the global step: the official losses are means over the batch), the loss and accuracy metrics
 * (a label outside the training vocabulary, -1, counts as wrong), the FLOPs of the pass (the ITM
 * pass's backbone with the classifier head: 3 x forward) and --init-from with the head fresh. */
m3ae_task m3ae_label_task(m3ae_label_task_ctx *ctx, const m3ae_label_task_desc *desc);

/* Loads the weights of checkpoint `path` (a pretraining or fine-tuning checkpoint of any image size)
 * into model m: every tensor of the checkpoint that m has, by name; the CLIP positional embedding
 * resized from the checkpoint's grid to m's (CLS row kept, bicubic as F.interpolate, align_corners
 * False); tensors of m that the checkpoint lacks (a fresh head) keep their values and are listed in
 * the log; a checkpoint tensor that m lacks is skipped; fixed tables of another grid (the MIM
 * decoder's sin-cos) keep m's own. Other shapes must agree. *fresh_head (may be NULL) receives the
 * number of tensors named head.* ("cls_head") that the checkpoint lacked (evaluation requires 0).
 * 0, or -1 with err. */
int m3ae_task_load_weights(const char *path, m3ae_model *m, const char *head, int *fresh_head, m3ae_error *err);

#endif
