/* The data-source plumbing every task shares (pretraining, VQA, classification, retrieval): a task's
 * source is the generic pipeline (io/pipeline.h) over one dataset folder with the task's sampler.
 * A task opens it in its `open` entry and lets m3ae_task_source_bind fill the other seven source
 * entries of m3ae_task (close, next, release, get_state, set_state, num_samples, samples_per_rank,
 * batches_per_epoch), which are the same for every task.
 *
 *   static m3ae_task_source *my_open(void *ctx, const char *dir, int leases, int rank, int world,
 *                                    m3ae_error *err) {
 *       my_sampler *s = calloc(1, sizeof *s);            // init it; it must outlive the pipeline
 *       m3ae_pipeline_config pc = m3ae_task_pipeline_config(cfg, dir, leases, rank, world);
 *       return m3ae_task_source_open(&pc, my_sampler_table(s), s, err);  // owns s from here on
 *   }
 *   m3ae_task t = {.open = my_open, ...};  m3ae_task_source_bind(&t);
 *
 * m3ae_task_dataset_read checks a downstream folder's manifest (task name, label count) for the
 * tasks' open entries and the commands. */
#ifndef M3AE_LAUNCH_TRAIN_TASK_SOURCE_H
#define M3AE_LAUNCH_TRAIN_TASK_SOURCE_H

#include <stdint.h>

#include "common/error.h"
#include "io/pipeline.h"
#include "launch/train/trainer.h"
#include "launch/train_config.h"

/* The pipeline configuration of a training or validation source from the run's keys (batch =
 * per_gpu_batchsize, seed, loader_threads); accum stays 0 (one micro-batch per epoch unit). */
m3ae_pipeline_config m3ae_task_pipeline_config(const m3ae_train_config *c, const char *dir, int leases, int rank,
                                               int world);

/* Opens the pipeline with sampler `table`; `sampler` (malloc'ed; table.ctx points into it, or NULL)
 * is owned by the source from this call on, also when it fails (then it is freed). NULL with err. */
m3ae_task_source *m3ae_task_source_open(const m3ae_pipeline_config *pc, m3ae_sampler table, void *sampler,
                                        m3ae_error *err);
/* The same for a sampler that holds allocations of its own: destroy(sampler) releases them before
 * the sampler itself is freed (at close, or when the open fails). */
m3ae_task_source *m3ae_task_source_open_with(const m3ae_pipeline_config *pc, m3ae_sampler table, void *sampler,
                                             void (*destroy)(void *sampler), m3ae_error *err);

/* Fills t's close, next, release, get_state, set_state, num_samples, samples_per_rank and
 * batches_per_epoch with the pipeline's. */
void m3ae_task_source_bind(m3ae_task *t);

/* A downstream dataset folder as a task reads it. */
typedef struct {
    uint64_t samples;
    uint32_t n_labels;
    int store_size;
} m3ae_task_dataset;

/* Reads dir's manifest: it must be of task `task` ("vqa", "cls", "irtr"; "" accepts any, e.g.
 * pretraining data) and hold samples; n_labels >= 0 also requires that label count (a split
 * prepared with another vocabulary is refused). `what` names the task in messages ("VQA"), `formats`
 * the prep formats ("vqa-rad|slake|vqa-med-2019"). 0, or -1 with err. */
int m3ae_task_dataset_read(const char *dir, const char *task, const char *what, const char *formats, int n_labels,
                           m3ae_task_dataset *out, m3ae_error *err);

#endif
