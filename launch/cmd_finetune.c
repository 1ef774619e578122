/* m3ae finetune: the command line and the run of a downstream task through the same trainer as
 * pretraining (launch/train/trainer.h: checkpoints, exact resume, signals, MPI data parallel).
 * --task vqa|cls: the VQA or classification head sized by the training folder's label vocabulary;
 * --task irtr: the retrieval head from the ITM match row; each from a pretraining checkpoint
 * (launch/train/task_vqa.h, task_cls.h, task_irtr.h). The tasks are the rows of tasks[] below. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/ckpt.h"
#include "common/error.h"
#include "dist/dist.h"
#include "io/tokenizer.h"
#include "launch/commands.h"
#include "launch/signals.h"
#include "launch/train/task_cls.h"
#include "launch/train/task_irtr.h"
#include "launch/train/task_source.h"
#include "launch/train/task_vqa.h"
#include "launch/train/trainer.h"
#include "launch/train_config.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: m3ae finetune --task vqa|cls|irtr --data DIR --out RUN_DIR [--config FILE] [--init-from PRETRAINED.h5]\n"
            "                     [--val-data DIR] [key=value ...]\n"
            "       mpirun -np N m3ae finetune ...   (data parallel, as m3ae pretrain)\n\n"
            "Fine-tunes M3AE on a downstream dataset written by `m3ae prep --format vqa-rad|slake|vqa-med-2019`\n"
            "(--task vqa) or `m3ae prep --format melinda` (--task cls).\n\n"
            "  --task vqa        the VQA head (Linear, LayerNorm, GELU, Linear on the pooled features; fresh) with\n"
            "                    the official loss BCEWithLogits x number of answers\n"
            "  --task cls        the classification head (the same architecture, cls_head; fresh) with the\n"
            "                    official softmax cross-entropy (MELINDA, max_text_len 128)\n"
            "  --task irtr       retrieval: irtr_head Linear(2H,1) started from the ITM head's match row of\n"
            "                    --init-from, the itm_head frozen (no update, no decay); every image with its\n"
            "                    caption and irtr_candidates - 1 (16 - 1) other captions of the split, drawn from\n"
            "                    (seed, epoch, sample); cross-entropy over the candidates. --data / --val-data:\n"
            "                    m3ae prep --format roco-retrieval (or jsonl) folders; validation: the candidate\n"
            "                    loss and accuracy, then R@1/5/10 on the first irtr_val_images val images.\n"
            "                    Config experiments/configs/finetune_roco_irtr.cfg. Evaluate with\n"
            "                    `m3ae evaluate --task irtr`.\n"
            "  --data DIR        training split; its label vocabulary sizes the head\n"
            "  --val-data DIR    held-out split prepared with --answer-vocab DIR (same labels): accuracy\n"
            "                    every val_every steps (labels outside the vocabulary count as wrong)\n"
            "  --out RUN_DIR     run folder (config.cfg, metrics.jsonl, checkpoints/); RESUMES when it holds some\n"
            "  --config FILE     experiments/configs/finetune_{vqa_rad,slake,medvqa_2019,melinda}.cfg (spec 3.4)\n"
            "  --init-from FILE  a pretraining checkpoint: every backbone tensor by name, the vision position\n"
            "                    embeddings resized (bicubic) when its image_size differs; without it the\n"
            "                    backbone starts from the initialisation (the from-scratch baseline)\n"
            "  key=value         any training or model key (as m3ae pretrain --help), e.g. max_steps=20\n\n"
            "Signals and stop_after as m3ae pretrain. Evaluate with `m3ae evaluate --task vqa|cls|irtr`.\n");

}

/* --task dispatch: one row per task (its dataset, the head's label count, the trainer task). */
/* The task contexts a row can build its task from (the trainer borrows them for the run). */
typedef struct {
    m3ae_label_task_ctx label; /* vqa, cls */
    m3ae_irtr_task_ctx irtr;
} finetune_ctx;

typedef struct {
    const char *task, *what, *formats;
    int *(*labels)(m3ae_config *c); /* the head's label count field; NULL: a task without labels (irtr) */
    m3ae_task (*make)(finetune_ctx *ctx);
} finetune_task;

static int *vqa_labels(m3ae_config *c) { return &c->vqa_labels; }
static int *cls_labels(m3ae_config *c) { return &c->cls_labels; }
static m3ae_task make_vqa(finetune_ctx *c) { return m3ae_task_vqa(&c->label); }
static m3ae_task make_cls(finetune_ctx *c) { return m3ae_task_cls(&c->label); }
static m3ae_task make_irtr(finetune_ctx *c) { return m3ae_task_irtr(&c->irtr); }

static const finetune_task tasks[] = {
    {"vqa", "VQA", "vqa-rad|slake|vqa-med-2019", vqa_labels, make_vqa},
    {"cls", "classification", "melinda", cls_labels, make_cls},
    {"irtr", "retrieval", "roco-retrieval|jsonl", NULL, make_irtr},
};

static const finetune_task *task_find(const char *name) {
    for (size_t i = 0; i < sizeof tasks / sizeof tasks[0]; i++)
        if (!strcmp(tasks[i].task, name)) return &tasks[i];
    return NULL;
}

typedef struct {
    const char *task, *config_path, *data_dir, *val_dir, *out_dir, *init_from;
    int n_overrides;
    char **overrides;
} finetune_args;

static int finetune_run(const finetune_args *a, const finetune_task *ft, int *argc, char ***argv) {
    m3ae_dist dist;
    m3ae_dist_init(&dist, argc, argv);
    m3ae_signals_install();
    m3ae_error err = {{0}};
    int code = 0, rc = 0;
    m3ae_train_config cfg;
    char config_text[M3AE_CKPT_CONFIG_LEN];
    rc = m3ae_train_config_build(&cfg, a->config_path, a->overrides, a->n_overrides, &err);
    if (rc == 0 && ft->labels) {
        m3ae_task_dataset ds;
        rc = m3ae_task_dataset_read(a->data_dir, ft->task, ft->what, ft->formats, -1, &ds, &err);
        if (rc == 0 && ds.n_labels < 1) rc = m3ae_error_set(&err, "dataset %s has no labels", a->data_dir);
        if (rc == 0) *ft->labels(&cfg.model) = (int)ds.n_labels;
    }
    if (rc == 0 && !ft->labels) cfg.model.irtr_head = 1; /* the irtr_head, the ITM head frozen */
    if (rc == 0) rc = m3ae_train_config_validate(&cfg, dist.world, &err);
    if (rc != 0) {
        if (dist.rank == 0) fprintf(stderr, "m3ae: error: %s\n", err.msg);
        m3ae_dist_finalize(&dist);
        return M3AE_EXIT_USAGE;
    }
    m3ae_train_config_text(&cfg, config_text, sizeof config_text);
    m3ae_tokenizer *tok = m3ae_tokenizer_load(cfg.vocab, &err);
    if (!tok) fprintf(stderr, "m3ae: error: [rank %d] %s\n", dist.rank, err.msg);
    if (m3ae_dist_any(tok == NULL)) {
        code = M3AE_EXIT_DATA;
    } else {
        finetune_ctx ctx = {.label = {.cfg = &cfg, .tok = tok, .train_dir = a->data_dir},
                            .irtr = {.cfg = &cfg, .tok = tok, .train_dir = a->data_dir, .val_dir = a->val_dir}};
        m3ae_task task = ft->make(&ctx);
        char command[64];
        snprintf(command, sizeof command, "m3ae finetune --task %s", ft->task);
        m3ae_trainer_paths paths = {.data_dir = a->data_dir,
                                    .val_dir = a->val_dir,
                                    .out_dir = a->out_dir,
                                    .init_from = a->init_from,
                                    .config_text = config_text,
                                    .command = command};
        code = m3ae_trainer_run(&task, &cfg, &paths, dist.rank, dist.world);
    }
    if (tok) m3ae_tokenizer_free(tok);
    m3ae_dist_barrier();
    m3ae_dist_finalize(&dist);
    return code;
}

int m3ae_cmd_finetune(int argc, char **argv) {
    if (m3ae_cli_wants_help(argc, argv)) return usage(stdout), M3AE_EXIT_OK;
    finetune_args a = {0};
    char **over = calloc((size_t)argc, sizeof *over);
    if (!over) return fprintf(stderr, "m3ae: error: out of memory\n"), M3AE_EXIT_SYSTEM;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(s, "--task") && v) a.task = v, i++;
        else if (!strcmp(s, "--data") && v) a.data_dir = v, i++;
        else if (!strcmp(s, "--out") && v) a.out_dir = v, i++;
        else if (!strcmp(s, "--config") && v) a.config_path = v, i++;
        else if (!strcmp(s, "--val-data") && v) a.val_dir = v, i++;
        else if (!strcmp(s, "--init-from") && v) a.init_from = v, i++;
        else if (s[0] != '-' && strchr(s, '=')) over[a.n_overrides++] = argv[i];
        else {
            fprintf(stderr, "m3ae: error: unknown or incomplete argument '%s' for m3ae finetune (see --help)\n", s);
            free(over);
            return M3AE_EXIT_USAGE;
        }
    }
    if (!a.task || !a.data_dir || !a.out_dir) {
        fprintf(stderr, "m3ae: error: m3ae finetune needs --task vqa|cls|irtr, --data DIR and --out RUN_DIR (see --help)\n");
        free(over);
        return M3AE_EXIT_USAGE;
    }
    const finetune_task *ft = task_find(a.task);
    if (!ft) {
        fprintf(stderr, "m3ae: error: --task %s is not known: m3ae finetune has --task vqa|cls|irtr (see --help)\n", a.task);
        free(over);
        return M3AE_EXIT_USAGE;
    }
    a.overrides = over;
    int code = finetune_run(&a, ft, &argc, &argv);
    free(over);
    return code;
}
