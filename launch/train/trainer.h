/* The trainer: what every training loop needs, parameterised by a task.
 *
 * It owns restore and resume (checkpoint or --init-from weights, broadcast from rank 0), the
 * optimizer state (both AdamW moments) and the schedule, accumulation with global loss
 * denominators (a whole step's micro-batches are leased from the task's data before its first
 * backward), the gradient all-reduce, the log / validation / checkpoint cadence, stop signals and
 * agreement across ranks (a failure on any rank stops all of them with the same exit code).
 *
 * The task (m3ae_task) says what is trained: the pass list (run forward + backward for training,
 * forward only for validation), the data (a source that leases micro-batches and returns them),
 * how a micro-batch becomes the model's batch, and the metrics it reports by name. */
#ifndef M3AE_LAUNCH_TRAIN_TRAINER_H
#define M3AE_LAUNCH_TRAIN_TRAINER_H

#include <stdint.h>

#include "common/error.h"
#include "launch/metrics.h"
#include "launch/train_config.h"
#include "model/m3ae.h"
#include "model/tasks/passes.h"

/* The most loss denominators and metrics a task may have (pretraining: 3 and 6), so that the
 * trainer keeps them in fixed arrays. */
#define M3AE_TASK_MAX_DENOMS 8
#define M3AE_TASK_MAX_METRICS 32

/* A task's data source: one dataset folder, read in a fixed order. Micro-batches are LEASED: valid
 * until returned with release (the trainer holds up to the `leases` passed to open at once). */
typedef struct m3ae_task_source m3ae_task_source;

typedef struct m3ae_task {
    const char *name; /* for messages: "pretraining" */
    void *ctx;        /* the task's own state (e.g. the tokenizer) */
    m3ae_pass_list passes;

    /* metrics: train_metrics are observed per micro-batch and summed over micro-batches and ranks
     * per step (STEP_MEAN losses are global means already); val_metrics likewise over the
     * validation batches */
    const m3ae_metric_def *train_metrics, *val_metrics;
    int n_train_metrics, n_val_metrics;

    /* data */
    m3ae_task_source *(*open)(void *ctx, const char *dir, int leases, int rank, int world, m3ae_error *err);
    void (*close)(m3ae_task_source *s);
    /* leases the next micro-batch; returns 0, or -1 with err */
    int (*next)(m3ae_task_source *s, const void **batch, m3ae_error *err);
    void (*release)(m3ae_task_source *s, const void *batch);
    /* (epoch, position) of the next micro-batch to be leased; set_state continues from one */
    void (*get_state)(const m3ae_task_source *s, uint64_t *epoch, uint64_t *position);
    int (*set_state)(m3ae_task_source *s, uint64_t epoch, uint64_t position, m3ae_error *err);
    uint64_t (*num_samples)(const m3ae_task_source *s);
    uint64_t (*samples_per_rank)(const m3ae_task_source *s);
    uint64_t (*batches_per_epoch)(const m3ae_task_source *s);

    /* loss denominators: a micro-batch's local counts (n_denoms of them), which the trainer sums
     * over the step's micro-batches and all ranks before the first backward */
    int n_denoms;
    void (*counts)(const void *batch, double *counts);
    /* the model's batch of a leased micro-batch; denoms NULL: its own counts (validation) */
    m3ae_batch (*model_batch)(const void *batch, uint64_t step, const double *denoms);
    /* adds one micro-batch's results (after its passes) to num / den of the train or val metrics */
    void (*observe)(const m3ae_losses *l, const void *batch, int validation, double *num, double *den);
    /* FLOPs per training sample for MFU and the start-up table (model/flops.h): *work counts what the
     * model computes, for the labelled rows of a log interval's train metrics (interval NULL: the
     * task's nominal batch); *official the official-equivalent count. *detail: a phrase for the
     * start-up line ("MLM head on 10 labelled rows"). */
    void (*flops)(const m3ae_train_config *c, const m3ae_metric_set *interval, double *work, double *official,
                  char *detail, size_t detail_len);
    /* --init-from: loads the weights of checkpoint path into the model (rank 0; the trainer then
     * broadcasts them); 0, or -1 with err. NULL: a strict load (every name and shape as the model). */
    int (*init_from)(void *ctx, const char *path, m3ae_model *m, m3ae_error *err);
    /* model rows per sample (retrieval: a sample is an image with K candidate captions, K pairs);
     * 0 counts as 1. The model is planned for per_gpu_batchsize x this. */
    int rows_per_sample;
    /* after the validation's metrics (or NULL): a task's own evaluation of the model at step `step`
     * (retrieval: R@k by cross-encoder scoring), called on every rank with the model in eval mode */
    void (*after_validation)(void *ctx, m3ae_model *m, int64_t step, int rank);
} m3ae_task;

typedef struct {
    const char *data_dir, *val_dir; /* val_dir NULL: no validation */
    const char *out_dir;            /* run folder: created, or resumed */
    const char *init_from;          /* weights-only start, or NULL */
    const char *config_text;        /* the run's configuration (config.cfg, checkpoints) */
    const char *command;            /* start-up banner: "m3ae pretrain" */
    int allow_config_change;        /* resume although keys that change the data order or model differ */
} m3ae_trainer_paths;

/* Runs the training of `task` with `cfg` (validated) on the ranks of an initialised m3ae_dist.
 * Returns an exit code (M3AE_EXIT_*). */
int m3ae_trainer_run(const m3ae_task *task, const m3ae_train_config *cfg, const m3ae_trainer_paths *paths, int rank,
                     int world);

#endif
