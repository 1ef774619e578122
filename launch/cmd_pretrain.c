/* m3ae pretrain: the command line; launch/pretrain.c runs the trainer (launch/train/) with the
 * pretraining task. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "launch/commands.h"
#include "launch/pretrain.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: m3ae pretrain --data DIR --out RUN_DIR [--config FILE] [--val-data DIR] [--init-from FILE]\n"
            "                     [--allow-config-change] [key=value ...]\n"
            "       mpirun -np N m3ae pretrain ...   (data parallel: each rank takes 1/N of every global batch)\n\n"
            "Pretrains M3AE with the official three passes (MLM, MIM, ITM) and AdamW schedule.\n\n"
            "  --data DIR        training dataset written by `m3ae prep`\n"
            "  --out RUN_DIR     run folder: config.cfg, metrics.jsonl, checkpoints/step_NNNNNNN.h5 and\n"
            "                    checkpoints/latest. If it holds checkpoints, the run RESUMES from the latest\n"
            "                    (latest missing or broken: from the newest whole step file, said so).\n"
            "                    One job per folder: a second job on the same RUN_DIR exits 2 naming the\n"
            "                    host and pid that hold RUN_DIR/.lock.\n"
            "  --config FILE     `key = value` lines (experiments/configs/pretrain_{base,small,tiny}.cfg)\n"
            "  --val-data DIR    validation dataset (MLM accuracy, MIM loss, ITM accuracy every val_every steps)\n"
            "  --init-from FILE  start from the model weights of a checkpoint (strict: every name and shape)\n"
            "  --allow-config-change  resume although keys that change the data order or the model differ\n"
            "                    from the checkpoint's (every model key, seed, batch_size, random_crop,\n"
            "                    mlm_mode, the dataset); without it such a resume is refused (exit 4). The\n"
            "                    schedule, optimizer, event and machine keys may always change.\n"
            "  key=value         overrides any configuration key, e.g. max_steps=200 learning_rate=5e-4\n\n"
            "Keys (model keys as in model/config.h; training keys with official names):\n"
            "  preset (base|small|tiny: sets every model key; give it first; custom: the model keys follow),\n"
            "  image_size, patch_size, max_text_len, hidden_size, num_heads, num_top_layer, mlp_ratio,\n"
            "  mim_layer, mim_prob, mlm_prob,\n"
            "  drop_rate, ... ; max_steps, warmup_steps (< 1: fraction), learning_rate, weight_decay,\n"
            "  lr_mult_head, lr_mult_multi_modal, adam_beta1, adam_beta2, adam_eps, grad_clip (0 = off),\n"
            "  batch_size (global), per_gpu_batchsize (micro-batch per rank; accumulation covers the rest),\n"
            "  seed, vocab, loader_threads, random_crop, mlm_mode (official|bernoulli), objective (separate|joint),\n"
            "  log_every, val_every, val_batches, ckpt_every, keep_last, stop_after, threads, peak_tflops,\n"
            "  device (cpu|cuda: the compute backend; cuda comes with the CUDA backend),\n"
            "  trace (FILE: a Chrome/Perfetto timeline of the run, relative paths inside RUN_DIR; off by default),\n"
            "  watchdog_s (600: a longer step ends the job naming what it waited for; 0 off),\n"
            "  straggler_every (50: steps between straggler lines across ranks; 0 off),\n"
            "  allreduce (auto|ring|hier|mpi: the gradient all-reduce; auto = hier across nodes, else ring),\n"
            "  bucket_mb (gradient bucket MiB, default 25; the first bucket 1 MiB).\n\n"
            "Signals: SIGUSR1, SIGTERM or SIGINT stop the run at once with a checkpoint of the last finished\n"
            "step (exit 0): a step in progress is abandoned before its update and redone on resume, unless\n"
            "M3AE_STOP_GRACE_S (the launcher's grace, seconds) leaves room to finish it. A second SIGINT exits\n"
            "at once. Under mpirun use launch/local.sh, which gives the ranks time (see its --help).\n"
            "stop_after=STEP stops after STEP with a checkpoint.\n"
            "A non-finite loss or gradient norm stops the run with exit 6, keeping the last good checkpoint.\n");
}

int m3ae_cmd_pretrain(int argc, char **argv) {
    if (m3ae_cli_wants_help(argc, argv)) return usage(stdout), M3AE_EXIT_OK;
    m3ae_pretrain_args a = {0};
    char **over = calloc((size_t)argc, sizeof *over);
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(s, "--data") && v) a.data_dir = v, i++;
        else if (!strcmp(s, "--out") && v) a.out_dir = v, i++;
        else if (!strcmp(s, "--config") && v) a.config_path = v, i++;
        else if (!strcmp(s, "--val-data") && v) a.val_dir = v, i++;
        else if (!strcmp(s, "--init-from") && v) a.init_from = v, i++;
        else if (!strcmp(s, "--allow-config-change")) a.allow_config_change = 1;
        else if (s[0] != '-' && strchr(s, '=')) over[a.n_overrides++] = argv[i];
        else {
            fprintf(stderr, "m3ae: error: unknown or incomplete argument '%s' for m3ae pretrain (see --help)\n", s);
            free(over);
            return M3AE_EXIT_USAGE;
        }
    }
    if (!a.data_dir || !a.out_dir) {
        fprintf(stderr, "m3ae: error: m3ae pretrain needs --data DIR and --out RUN_DIR (see --help)\n");
        free(over);
        return M3AE_EXIT_USAGE;
    }
    a.overrides = over;
    int code = m3ae_pretrain_run(&a, &argc, &argv);
    free(over);
    return code;
}
