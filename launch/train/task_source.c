/* The shared data-source plumbing of the tasks (launch/train/task_source.h). */
#include "launch/train/task_source.h"

#include <stdlib.h>
#include <string.h>

#include "io/manifest.h"

struct m3ae_task_source {
    m3ae_pipeline *p;
    void *sampler;                /* the pipeline's sampler ctx lives here: freed after the pipeline */
    void (*destroy)(void *sampler); /* the sampler's own allocations, or NULL */
};

m3ae_pipeline_config m3ae_task_pipeline_config(const m3ae_train_config *c, const char *dir, int leases, int rank,
                                               int world) {
    return (m3ae_pipeline_config){.data_dir = dir,
                                  .batch_size = (int)c->per_gpu_batchsize,
                                  .seed = (uint64_t)c->seed,
                                  .rank = rank,
                                  .world = world,
                                  .threads = (int)c->loader_threads,
                                  .leases = leases};
}

static void sampler_free(void *sampler, void (*destroy)(void *)) {
    if (sampler && destroy) destroy(sampler);
    free(sampler);
}

m3ae_task_source *m3ae_task_source_open_with(const m3ae_pipeline_config *pc, m3ae_sampler table, void *sampler,
                                             void (*destroy)(void *sampler), m3ae_error *err) {
    m3ae_task_source *s = calloc(1, sizeof *s);
    if (!s)
        return sampler_free(sampler, destroy), m3ae_error_set(err, "out of memory opening the data of %s", pc->data_dir),
               NULL;
    s->sampler = sampler;
    s->destroy = destroy;
    s->p = m3ae_pipeline_open(pc, &table, err);
    if (!s->p) return sampler_free(sampler, destroy), free(s), NULL;
    return s;
}

m3ae_task_source *m3ae_task_source_open(const m3ae_pipeline_config *pc, m3ae_sampler table, void *sampler,
                                        m3ae_error *err) {
    return m3ae_task_source_open_with(pc, table, sampler, NULL, err);
}

static void source_close(m3ae_task_source *s) {
    if (!s) return;
    m3ae_pipeline_close(s->p);
    sampler_free(s->sampler, s->destroy);
    free(s);
}

static int source_next(m3ae_task_source *s, const void **batch, m3ae_error *err) {
    void *b;
    int rc = m3ae_pipeline_lease(s->p, &b, err);
    *batch = b;
    return rc;
}

static void source_release(m3ae_task_source *s, const void *batch) { m3ae_pipeline_release(s->p, batch); }
static void source_get_state(const m3ae_task_source *s, uint64_t *epoch, uint64_t *position) {
    m3ae_pipeline_get_state(s->p, epoch, position);
}
static int source_set_state(m3ae_task_source *s, uint64_t epoch, uint64_t position, m3ae_error *err) {
    return m3ae_pipeline_set_state(s->p, epoch, position, err);
}
static uint64_t source_num_samples(const m3ae_task_source *s) { return m3ae_pipeline_num_samples(s->p); }
static uint64_t source_samples_per_rank(const m3ae_task_source *s) { return m3ae_pipeline_samples_per_rank(s->p); }
static uint64_t source_batches_per_epoch(const m3ae_task_source *s) { return m3ae_pipeline_batches_per_epoch(s->p); }

void m3ae_task_source_bind(m3ae_task *t) {
    t->close = source_close;
    t->next = source_next;
    t->release = source_release;
    t->get_state = source_get_state;
    t->set_state = source_set_state;
    t->num_samples = source_num_samples;
    t->samples_per_rank = source_samples_per_rank;
    t->batches_per_epoch = source_batches_per_epoch;
}

int m3ae_task_dataset_read(const char *dir, const char *task, const char *what, const char *formats, int n_labels,
                           m3ae_task_dataset *out, m3ae_error *err) {
    m3ae_manifest man;
    if (m3ae_manifest_read(dir, &man, err) != 0) return -1;
    const int same = !task[0] || !strcmp(man.task.task, task);
    *out = (m3ae_task_dataset){.samples = man.samples, .n_labels = man.task.n_labels, .store_size = man.store_size};
    m3ae_manifest_free(&man);
    if (!same)
        return m3ae_error_set(err, "dataset %s is not a %s dataset (its manifest has no task \"%s\"); convert it with "
                              "m3ae prep --format %s", dir, what, task, formats);
    if (n_labels >= 0 && (int)out->n_labels != n_labels)
        return m3ae_error_set(err, "dataset %s has %u labels but the model's %s head has %d: prepare every split with "
                              "--answer-vocab TRAIN_DIR so that they share the training vocabulary", dir, out->n_labels,
                              what, n_labels);
    if (out->samples == 0)
        return m3ae_error_set(err, "dataset %s holds no samples; convert it with m3ae prep --format %s", dir, formats);
    return 0;
}
