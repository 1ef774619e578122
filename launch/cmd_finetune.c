/* m3ae finetune: the command line and the run of a downstream task through the same trainer as
 * pretraining (launch/train/trainer.h: checkpoints, exact resume, signals, MPI data parallel).
 * --task vqa: the VQA head sized by the training folder's label vocabulary, the start from a
 * pretraining checkpoint (launch/train/task_vqa.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/ckpt.h"
#include "common/error.h"
#include "dist/dist.h"
#include "io/manifest.h"
#include "io/tokenizer.h"
#include "launch/commands.h"
#include "launch/signals.h"
#include "launch/train/task_irtr.h"
#include "launch/train/task_vqa.h"
#include "launch/train/trainer.h"
#include "launch/train_config.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: m3ae finetune --task vqa|irtr --data DIR --out RUN_DIR [--config FILE] [--init-from PRETRAINED.h5]\n"
            "                     [--val-data DIR] [key=value ...]\n"
            "       mpirun -np N m3ae finetune ...   (data parallel, as m3ae pretrain)\n\n"
            "Fine-tunes M3AE on a downstream dataset written by `m3ae prep --format vqa-rad|slake|vqa-med-2019`.\n\n"
            "  --task vqa        the VQA head (Linear, LayerNorm, GELU, Linear on the pooled features; fresh) with\n"
            "                    the official loss BCEWithLogits x number of answers\n"
            "  --data DIR        training split; its label vocabulary sizes the head\n"
            "  --val-data DIR    held-out split prepared with --answer-vocab DIR (same labels): VQA accuracy\n"
            "                    every val_every steps (unseen answers count as wrong)\n"
            "  --out RUN_DIR     run folder (config.cfg, metrics.jsonl, checkpoints/); RESUMES when it holds some\n"
            "  --config FILE     experiments/configs/finetune_{vqa_rad,slake,medvqa_2019}.cfg (spec 3.4)\n"
            "  --init-from FILE  a pretraining checkpoint: every backbone tensor by name, the vision position\n"
            "                    embeddings resized (bicubic) when its image_size differs; without it the\n"
            "                    backbone starts from the initialisation (the from-scratch baseline)\n"
            "  key=value         any training or model key (as m3ae pretrain --help), e.g. max_steps=20\n\n"
            "Signals and stop_after as m3ae pretrain. Evaluate with `m3ae evaluate --task vqa`.\n\n"
            "  --task irtr       retrieval: irtr_head Linear(2H,1) started from the ITM head's match row of\n"
            "                    --init-from, the itm_head frozen (no update, no decay); every image with its\n"
            "                    caption and irtr_candidates - 1 (16 - 1) other captions of the split, drawn from\n"
            "                    (seed, epoch, sample); cross-entropy over the candidates. --data / --val-data:\n"
            "                    m3ae prep --format roco-retrieval (or jsonl) folders; validation: the candidate\n"
            "                    loss and accuracy, then R@1/5/10 on the first irtr_val_images val images.\n"
            "                    Config experiments/configs/finetune_roco_irtr.cfg. Evaluate with\n"
            "                    `m3ae evaluate --task irtr`.\n");
}

/* The label count of a downstream VQA folder (its manifest), or -1 with err. */
static int vqa_label_count(const char *dir, m3ae_error *err) {
    m3ae_manifest man;
    if (m3ae_manifest_read(dir, &man, err) != 0) return -1;
    int n = (int)man.task.n_labels, vqa = !strcmp(man.task.task, "vqa");
    m3ae_manifest_free(&man);
    if (!vqa)
        return m3ae_error_set(err, "dataset %s is not a VQA dataset (no task \"vqa\" in its manifest): convert it with m3ae "
                              "prep --format vqa-rad|slake|vqa-med-2019", dir);
    if (n < 1) return m3ae_error_set(err, "dataset %s has no answer labels", dir);
    return n;
}

typedef struct {
    const char *task, *config_path, *data_dir, *val_dir, *out_dir, *init_from;
    int n_overrides;
    char **overrides;
} finetune_args;

static int finetune_run(const finetune_args *a, int *argc, char ***argv) {
    m3ae_dist dist;
    m3ae_dist_init(&dist, argc, argv);
    m3ae_signals_install();
    m3ae_error err = {{0}};
    int code = 0, rc = 0;
    m3ae_train_config cfg;
    char config_text[M3AE_CKPT_CONFIG_LEN];
    m3ae_train_config_defaults(&cfg);
    if (a->config_path) rc = m3ae_train_config_load(&cfg, a->config_path, &err);
    for (int i = 0; rc == 0 && i < a->n_overrides; i++) rc = m3ae_train_config_override(&cfg, a->overrides[i], &err);
    const int irtr = !strcmp(a->task, "irtr");
    if (rc == 0 && irtr) cfg.model.irtr_head = 1; /* the irtr_head, the ITM head frozen */
    if (rc == 0 && !irtr) {
        int n = vqa_label_count(a->data_dir, &err);
        if (n < 0) rc = -1;
        else cfg.model.vqa_labels = n;
    }
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
        m3ae_vqa_task_ctx ctx = {.cfg = &cfg, .tok = tok, .train_dir = a->data_dir};
        m3ae_irtr_task_ctx ictx = {.cfg = &cfg, .tok = tok, .train_dir = a->data_dir, .val_dir = a->val_dir};
        m3ae_task task = irtr ? m3ae_task_irtr(&ictx) : m3ae_task_vqa(&ctx);
        m3ae_trainer_paths paths = {.data_dir = a->data_dir,
                                    .val_dir = a->val_dir,
                                    .out_dir = a->out_dir,
                                    .init_from = a->init_from,
                                    .config_text = config_text,
                                    .command = irtr ? "m3ae finetune --task irtr" : "m3ae finetune --task vqa"};
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
        fprintf(stderr, "m3ae: error: m3ae finetune needs --task vqa|irtr, --data DIR and --out RUN_DIR (see --help)\n");
        free(over);
        return M3AE_EXIT_USAGE;
    }
    if (strcmp(a.task, "vqa") && strcmp(a.task, "irtr")) {
        fprintf(stderr, "m3ae: error: --task %s is not available: this build fine-tunes --task vqa and irtr (cls is "
                        "not implemented yet)\n", a.task);
        free(over);
        return M3AE_EXIT_USAGE;
    }
    a.overrides = over;
    int code = finetune_run(&a, &argc, &argv);
    free(over);
    return code;
}
