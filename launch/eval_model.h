/* What `m3ae evaluate` and `m3ae predict` share: a fine-tuned model opened from its checkpoint for
 * forward passes (the checkpoint's configuration text + key=value overrides, the tokenizer, the
 * backend, the model of a given batch with its head's label count, the weights with the head
 * required), the downstream tasks they know, as a table (one row per --task), and their command
 * line. */
#ifndef M3AE_LAUNCH_EVAL_MODEL_H
#define M3AE_LAUNCH_EVAL_MODEL_H

#include "common/error.h"
#include "io/tokenizer.h"
#include "launch/train_config.h"
#include "model/m3ae.h"

/* A downstream task with a classifier head over the pooled features. */
typedef struct {
    const char *name;    /* --task: "vqa" */
    const char *what;    /* in messages: "VQA" */
    const char *formats; /* m3ae prep formats of its datasets: "vqa-rad|slake|vqa-med-2019" */
    const char *head;    /* registry prefix: "vqa_head" */
    const char *logits;  /* m3ae_model_output name: "vqa_logits" */
    m3ae_pass pass;
} m3ae_eval_task;

/* The row of --task name, or NULL. */
const m3ae_eval_task *m3ae_eval_task_find(const char *name);
/* The head's label count field of a model configuration. */
int *m3ae_eval_task_labels(const m3ae_eval_task *t, m3ae_config *c);
/* A model batch of B samples (labels in the task's field). */
m3ae_batch m3ae_eval_task_batch(const m3ae_eval_task *t, int B, const float *images, const int32_t *ids,
                                const int32_t *masks, const int32_t *labels, const int64_t *sample_ids);

typedef struct {
    m3ae_train_config *cfg; /* the checkpoint's, with the overrides */
    m3ae_tokenizer *tok;
    m3ae_backend *be;
    m3ae_model *m;
} m3ae_eval_model;

/* Step 1: e->cfg from the checkpoint's configuration text and the overrides. 0, or -1 with err. */
int m3ae_eval_model_config(m3ae_eval_model *e, const char *ckpt, int n_over, char **over, m3ae_error *err);
/* Step 2 (after setting the head's label count in e->cfg->model): the tokenizer, the backend, the
 * model for batches of up to B samples (dropout off) and the weights; a checkpoint without the
 * task's head is refused ("has no VQA head"). 0, or -1 with err and *code the exit code. */
int m3ae_eval_model_open(m3ae_eval_model *e, const m3ae_eval_task *t, const char *ckpt, int B, int *code,
                         m3ae_error *err);
/* Frees what was opened (any step). */
void m3ae_eval_model_close(m3ae_eval_model *e);

/* The command line of evaluate and predict: "--flag VALUE" for each option (its value pointer set),
 * "key=value" arguments collected into over (room for argc entries; *n_over of them). An unknown or
 * incomplete argument prints "unknown or incomplete argument ... for m3ae CMD" and returns -1. */
typedef struct {
    const char *flag;
    const char **value;
} m3ae_cli_opt;
int m3ae_eval_parse_args(int argc, char **argv, const char *cmd, const m3ae_cli_opt *opts, int n_opts, char **over,
                         int *n_over);

#endif
