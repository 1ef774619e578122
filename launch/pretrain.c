/* m3ae pretrain (launch/pretrain.h): the configuration, MPI, the tokenizer, then the trainer with
 * the pretraining task. */
#include "launch/pretrain.h"

#include <stdio.h>
#include <string.h>

#include "checkpoints/ckpt.h"
#include "checkpoints/run_lock.h"
#include "common/error.h"
#include "dist/dist.h"
#include "io/tokenizer.h"
#include "launch/signals.h"
#include "launch/train/task_pretrain.h"
#include "launch/train/trainer.h"
#include "launch/train_config.h"

int m3ae_pretrain_run(const m3ae_pretrain_args *a, int *argc, char ***argv) {
    m3ae_dist dist;
    m3ae_dist_init(&dist, argc, argv);
    m3ae_signals_install();
    m3ae_error err = {{0}};
    int code = 0, rc = 0;

    /* configuration: the same on every rank */
    m3ae_train_config cfg;
    char config_text[M3AE_CKPT_CONFIG_LEN];
    rc = m3ae_train_config_build(&cfg, a->config_path, a->overrides, a->n_overrides, &err);
    if (rc == 0) rc = m3ae_train_config_validate(&cfg, dist.world, &err);
    if (rc != 0) {
        if (dist.rank == 0) fprintf(stderr, "m3ae: error: %s\n", err.msg);
        m3ae_dist_finalize(&dist);
        return M3AE_EXIT_USAGE;
    }
    m3ae_train_config_text(&cfg, config_text, sizeof config_text);

    /* one job per run folder: rank 0 holds RUN_DIR/.lock until the end */
    int lock = dist.rank == 0 ? m3ae_run_lock(a->out_dir, &err) : 0;
    if (lock < 0) fprintf(stderr, "m3ae: error: %s\n", err.msg);
    if (m3ae_dist_any(lock < 0)) {
        m3ae_dist_finalize(&dist);
        return M3AE_EXIT_USAGE;
    }

    m3ae_tokenizer *tok = m3ae_tokenizer_load(cfg.vocab, &err);
    if (!tok) fprintf(stderr, "m3ae: error: [rank %d] %s\n", dist.rank, err.msg);
    if (m3ae_dist_any(tok == NULL)) {
        code = M3AE_EXIT_DATA;
    } else {
        m3ae_pretrain_task_ctx ctx = {.cfg = &cfg, .tok = tok};
        m3ae_task task = m3ae_task_pretrain(&ctx);
        m3ae_trainer_paths paths = {.data_dir = a->data_dir,
                                    .val_dir = a->val_dir,
                                    .out_dir = a->out_dir,
                                    .init_from = a->init_from,
                                    .config_text = config_text,
                                    .command = "m3ae pretrain",
                                    .allow_config_change = a->allow_config_change};
        code = m3ae_trainer_run(&task, &cfg, &paths, dist.rank, dist.world);
    }
    if (tok) m3ae_tokenizer_free(tok);
    m3ae_dist_barrier();
    if (dist.rank == 0) m3ae_run_unlock(lock);
    m3ae_dist_finalize(&dist);
    return code;
}
