/* The fine-tuned model of evaluate and predict (launch/eval_model.h). */
#include "launch/eval_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/ckpt.h"
#include "launch/train/task_labelled.h"

static const m3ae_eval_task tasks[] = {
    {"vqa", "VQA", "vqa-rad|slake|vqa-med-2019", "vqa_head", "vqa_logits", M3AE_PASS_VQA},
    {"cls", "classification", "melinda", "cls_head", "cls_logits", M3AE_PASS_CLS},
};
enum { N_TASKS = sizeof tasks / sizeof tasks[0] };

const m3ae_eval_task *m3ae_eval_task_find(const char *name) {
    for (int i = 0; name && i < N_TASKS; i++)
        if (!strcmp(tasks[i].name, name)) return &tasks[i];
    return NULL;
}

int *m3ae_eval_task_labels(const m3ae_eval_task *t, m3ae_config *c) {
    return t->pass == M3AE_PASS_CLS ? &c->cls_labels : &c->vqa_labels;
}

m3ae_batch m3ae_eval_task_batch(const m3ae_eval_task *t, int B, const float *images, const int32_t *ids,
                                const int32_t *masks, const int32_t *labels, const int64_t *sample_ids) {
    m3ae_batch b = {.B = B, .images = images, .text_ids = ids, .text_masks = masks, .sample_ids = sample_ids};
    if (t->pass == M3AE_PASS_CLS) b.cls_labels = labels;
    else b.vqa_labels = labels;
    return b;
}

int m3ae_eval_model_config(m3ae_eval_model *e, const char *ckpt, int n_over, char **over, m3ae_error *err) {
    memset(e, 0, sizeof *e);
    m3ae_ckpt_meta *meta = calloc(1, sizeof *meta);
    e->cfg = calloc(1, sizeof *e->cfg);
    if (!meta || !e->cfg) return free(meta), m3ae_error_set(err, "out of memory");
    int rc = m3ae_ckpt_read_meta(ckpt, meta, err);
    m3ae_train_config_defaults(e->cfg);
    if (rc == 0) rc = m3ae_train_config_from_text(e->cfg, meta->config, err);
    free(meta);
    for (int i = 0; rc == 0 && i < n_over; i++) rc = m3ae_train_config_override(e->cfg, over[i], err);
    return rc;
}

int m3ae_eval_model_open(m3ae_eval_model *e, const m3ae_eval_task *t, const char *ckpt, int B, int *code,
                         m3ae_error *err) {
    *code = M3AE_EXIT_DATA;
    if (!(e->tok = m3ae_tokenizer_load(e->cfg->vocab, err))) return -1;
    *code = M3AE_EXIT_USAGE;
    m3ae_backend_options bopt = {.threads = (int)e->cfg->threads, .act_dtype = M3AE_DTYPE_F32};
    if (!(e->be = m3ae_backend_open(e->cfg->device, &bopt, err))) return -1;
    *code = M3AE_EXIT_CKPT;
    e->m = m3ae_model_create(&e->cfg->model, e->be, B);
    m3ae_model_init_params(e->m, 0);
    m3ae_model_set_train(e->m, 0, 0);
    int fresh_head = 0;
    if (m3ae_task_load_weights(ckpt, e->m, t->head, &fresh_head, err) != 0) return -1;
    if (fresh_head)
        return m3ae_error_set(err, "checkpoint %s has no %s head (%s.*): evaluate a checkpoint of m3ae finetune --task %s",
                              ckpt, t->what, t->head, t->name);
    return 0;
}

void m3ae_eval_model_close(m3ae_eval_model *e) {
    if (e->m) m3ae_model_destroy(e->m);
    if (e->be) m3ae_backend_close(e->be);
    if (e->tok) m3ae_tokenizer_free(e->tok);
    free(e->cfg);
    memset(e, 0, sizeof *e);
}

int m3ae_eval_parse_args(int argc, char **argv, const char *cmd, const m3ae_cli_opt *opts, int n_opts, char **over,
                         int *n_over) {
    *n_over = 0;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int k = 0;
        while (k < n_opts && !(v && !strcmp(s, opts[k].flag))) k++;
        if (k < n_opts) {
            *opts[k].value = v;
            i++;
        } else if (s[0] != '-' && strchr(s, '=')) {
            over[(*n_over)++] = argv[i];
        } else {
            fprintf(stderr, "m3ae: error: unknown or incomplete argument '%s' for m3ae %s (see --help)\n", s, cmd);
            return -1;
        }
    }
    return 0;
}
