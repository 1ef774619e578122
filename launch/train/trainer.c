/* The trainer (launch/train/trainer.h). */
#include "launch/train/trainer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/ckpt.h"
#include "common/arena.h"
#include "common/build_info.h"
#include "common/log.h"
#include "common/sys.h"
#include "dist/dist.h"
#include "launch/signals.h"
#include "model/optimizer.h"

/* Everything a run holds. */
typedef struct {
    const m3ae_task *task;
    const m3ae_train_config *cfg;
    const m3ae_trainer_paths *paths;
    int rank, world;
    m3ae_task_source *train, *val;
    m3ae_model *model;
    const m3ae_registry *reg;
    float *exp_avg, *exp_avg_sq; /* AdamW moments, laid out like the parameters */
    m3ae_adamw_config opt;
    int64_t accum;
    const void **leased; /* (accum) the step's micro-batches */
    m3ae_metric_set val_set; /* validation accumulators */
    unsigned char *ready;    /* (registry entries) reported by the gradient-ready hook this step */
    FILE *metrics;
} run;

/* Same outcome on every rank: a failure on any rank stops all of them with rank 0 printing. */
static int all_ok(run *r, int rc, const m3ae_error *err, int code) {
    if (rc != 0) fprintf(stderr, "m3ae: error: [rank %d] %s\n", r->rank, err->msg);
    return m3ae_dist_any(rc != 0) ? code : 0;
}

/* ------------------------------------------------------------------ the model calls */

/* The task's passes on one batch, staged here, forward only (validation). *l receives the statistics
 * of the last pass of each kind. */
static void run_forward(run *r, const m3ae_batch *b, m3ae_losses *l) {
    const m3ae_pass_list *p = &r->task->passes;
    m3ae_model_stage(r->model, b); /* one upload of the micro-batch for all its passes */
    for (int i = 0; i < p->n; i++) m3ae_model_forward(r->model, p->passes[i], b);
    m3ae_model_last_losses(r->model, l);
}

/* One training micro-batch: staged once, then the task's passes forward + backward in the model's
 * step (gradients accumulate); on the last micro-batch of the step the model reports the tensors
 * whose gradients are final (grad_ready). */
static void run_train(run *r, const m3ae_batch *b, int last_micro, m3ae_losses *l) {
    m3ae_model_stage(r->model, b);
    m3ae_model_step(r->model, b, &r->task->passes, last_micro, l);
}

/* The gradient-ready hook: marks the reported tensors. The bucketed all-reduce (issue 10) will start
 * a bucket here once all its tensors are marked. */
static void grad_ready(void *ctx, int first, int n) {
    run *r = ctx;
    for (int k = first; k < first + n; k++) {
        M3AE_CHECK(!r->ready[k], M3AE_EXIT_FAIL, "the model reported the gradient of '%s' twice in one step (a model bug)",
                   r->reg->p[k].name);
        r->ready[k] = 1;
    }
}

/* Before the all-reduce: every tensor was reported (a model bug if not); clears the marks. */
static void check_all_ready(run *r) {
    for (int k = 0; k < r->reg->n; k++) {
        M3AE_CHECK(r->ready[k], M3AE_EXIT_FAIL,
                   "the gradient of '%s' was never reported final in this step (a model bug: the gradient-ready "
                   "hook missed it)", r->reg->p[k].name);
        r->ready[k] = 0;
    }
}

/* ------------------------------------------------------------------ data */

static int open_source(run *r, const char *dir, int leases, m3ae_task_source **out, m3ae_error *err) {
    *out = r->task->open(r->task->ctx, dir, leases, r->rank, r->world, err);
    return *out ? 0 : -1;
}

/* ------------------------------------------------------------------ checkpoints */

/* Rank 0 writes the checkpoint; every rank learns whether it worked. */
static int save_checkpoint(run *r, int64_t done, m3ae_error *err) {
    int rc = 0;
    char path[4400] = "";
    if (r->rank == 0) {
        uint64_t epoch, position;
        r->task->get_state(r->train, &epoch, &position);
        m3ae_ckpt_meta meta = {.step = done, .epoch = (int64_t)epoch, .position = (int64_t)position,
                               .seed = r->cfg->seed, .world_size = r->world};
        snprintf(meta.config, sizeof meta.config, "%s", r->paths->config_text);
        double t0 = m3ae_now_s();
        rc = m3ae_ckpt_save_run(r->paths->out_dir, (int)r->cfg->keep_last, r->reg, m3ae_model_params(r->model),
                                r->exp_avg, r->exp_avg_sq, &meta, path, sizeof path, err);
        if (rc == 0) m3ae_info("checkpoint %s written (%.1f s)", path, m3ae_now_s() - t0);
    }
    return all_ok(r, rc, err, M3AE_EXIT_SYSTEM);
}

/* Resume from RUN_DIR's latest checkpoint, or start from --init-from weights, or from the
 * initialisation; rank 0 reads, every rank receives. Returns the first step to run. */
static int64_t restore(run *r, int *code) {
    m3ae_error err = {{0}};
    char latest[4400] = "";
    int found = 0, rc = 0;
    m3ae_ckpt_meta *meta = calloc(1, sizeof *meta);
    float *params = m3ae_model_params(r->model);
    size_t bytes = r->reg->arena_floats * sizeof(float);
    int64_t state[3] = {0, 0, 0}; /* step, epoch, position */
    const char *out = r->paths->out_dir;
    if (r->rank == 0) {
        int stale = m3ae_ckpt_remove_stale(out);
        if (stale) m3ae_info("removed %d unfinished checkpoint file(s) of an interrupted run", stale);
        int l = !meta ? m3ae_error_set(&err, "out of memory") : m3ae_ckpt_latest(out, latest, sizeof latest, &err);
        if (l < 0) rc = -1;
        else if (l == 0) {
            found = 1;
            rc = m3ae_ckpt_load(latest, r->reg, params, r->exp_avg, r->exp_avg_sq, meta, 1, &err);
            if (rc == 0) {
                state[0] = meta->step, state[1] = meta->epoch, state[2] = meta->position;
                m3ae_info("resuming %s from %s: step %lld, epoch %lld, position %lld (written by %lld ranks)", out,
                          latest, (long long)meta->step, (long long)meta->epoch, (long long)meta->position,
                          (long long)meta->world_size);
                if (meta->world_size != r->world)
                    m3ae_warn("the checkpoint was written by %lld ranks and this run has %d: the data order continues "
                              "from the same position, rounded to this run's batch boundary",
                              (long long)meta->world_size, r->world);
            }
        } else if (r->paths->init_from) {
            rc = r->task->init_from ? r->task->init_from(r->task->ctx, r->paths->init_from, r->model, &err)
                                    : m3ae_ckpt_load(r->paths->init_from, r->reg, params, NULL, NULL, NULL, 1, &err);
            if (rc == 0) m3ae_info("initialised the weights from %s", r->paths->init_from);
        }
    }
    free(meta);
    if ((*code = all_ok(r, rc, &err, M3AE_EXIT_CKPT))) return 0;
    m3ae_dist_broadcast(params, bytes);
    m3ae_dist_broadcast(&found, sizeof found);
    if (found) {
        m3ae_dist_broadcast(r->exp_avg, bytes);
        m3ae_dist_broadcast(r->exp_avg_sq, bytes);
    }
    m3ae_dist_broadcast(state, sizeof state);
    if (found) {
        rc = r->task->set_state(r->train, (uint64_t)state[1], (uint64_t)state[2], &err);
        if ((*code = all_ok(r, rc, &err, M3AE_EXIT_CKPT))) return 0;
    }
    return state[0];
}

/* ------------------------------------------------------------------ validation */

/* The task's own passes, forward only, on the first val_batches micro-batches of the validation
 * data (from its start every time), without dropout; the metrics summed over batches and ranks. */
static void validate(run *r, int64_t done) {
    const m3ae_task *t = r->task;
    m3ae_error err;
    m3ae_metric_set *vs = &r->val_set;
    m3ae_metric_set_zero(vs);
    m3ae_model_set_train(r->model, 0, (uint64_t)r->cfg->seed);
    if (t->set_state(r->val, 0, 0, &err) != 0) M3AE_FATAL(M3AE_EXIT_DATA, "%s", err.msg);
    for (int64_t i = 0; i < r->cfg->val_batches; i++) {
        const void *mb;
        if (t->next(r->val, &mb, &err) != 0) M3AE_FATAL(M3AE_EXIT_DATA, "%s", err.msg);
        m3ae_batch b = t->model_batch(mb, (uint64_t)done, NULL);
        m3ae_losses l;
        run_forward(r, &b, &l);
        t->observe(&l, mb, 1, vs->num, vs->den);
        t->release(r->val, mb);
    }
    m3ae_metric_set_reduce_ranks(vs);
    double v[M3AE_TASK_MAX_METRICS];
    m3ae_metric_set_values(vs, v);
    if (r->rank == 0) {
        m3ae_metrics_print_val(stdout, done, vs->defs, vs->n, v);
        m3ae_metrics_json_val(r->metrics, done, vs->defs, vs->n, v);
    }
    m3ae_model_set_train(r->model, 1, (uint64_t)r->cfg->seed);
}

/* ------------------------------------------------------------------ start-up */

static void print_startup(run *r, double gemm_gflops) {
    if (r->rank != 0) return;
    const m3ae_train_config *c = r->cfg;
    const m3ae_task *t = r->task;
    printf("%s %s (commit %s)\n", r->paths->command, M3AE_VERSION, M3AE_GIT_COMMIT);
    printf("  ranks %d x micro-batch %lld x accumulation %lld = global batch %lld\n", r->world,
           (long long)c->per_gpu_batchsize, (long long)r->accum, (long long)c->batch_size);
    printf("  data %s: %llu samples, %llu per rank and epoch, %llu steps per epoch\n", r->paths->data_dir,
           (unsigned long long)t->num_samples(r->train), (unsigned long long)t->samples_per_rank(r->train),
           (unsigned long long)(t->batches_per_epoch(r->train) / (uint64_t)r->accum));
    if (r->val)
        printf("  validation %s: %lld batches every %lld steps\n", r->paths->val_dir, (long long)c->val_batches,
               (long long)c->val_every);
    printf("  schedule: %lld steps, warm-up %lld, peak lr %.3g (heads x%g, multi-modal x%g), weight decay %g\n",
           (long long)c->max_steps, (long long)m3ae_train_warmup_steps(c), c->learning_rate, c->lr_mult_head,
           c->lr_mult_multi_modal, c->weight_decay);
    double work, official;
    char detail[128];
    t->flops(c, NULL, &work, &official, detail, sizeof detail);
    printf("  FLOP model: %.2f GFLOP work per training sample (%s), %.2f official-equivalent; MFU of the work "
           "against %s %.1f GFLOP/s per rank\n", work / 1e9, detail, official / 1e9,
           c->peak_tflops > 0 ? "peak_tflops =" : "the measured SGEMM rate",
           c->peak_tflops > 0 ? c->peak_tflops * 1e3 : gemm_gflops);
    printf("configuration (also in %s/config.cfg):\n", r->paths->out_dir);
    /* the key = value lines in two columns */
    char *lines[128];
    int n = 0;
    static char text[M3AE_CKPT_CONFIG_LEN];
    snprintf(text, sizeof text, "%s", r->paths->config_text);
    for (char *save = NULL, *s = strtok_r(text, "\n", &save); s && n < 128; s = strtok_r(NULL, "\n", &save))
        lines[n++] = s;
    int half = (n + 1) / 2;
    for (int i = 0; i < half; i++) printf("  %-40s %s\n", lines[i], i + half < n ? lines[i + half] : "");
    m3ae_registry_print_summary(r->reg, stdout);
    m3ae_model_memory_report(r->model, stdout);
    fflush(stdout);
}

/* ------------------------------------------------------------------ the loop */

/* Leases the step's accum micro-batches and sums their loss denominators over them and all ranks. */
static int lease_step(run *r, double *denoms, m3ae_error *err) {
    const m3ae_task *t = r->task;
    int code;
    for (int j = 0; j < t->n_denoms; j++) denoms[j] = 0;
    for (int64_t k = 0; k < r->accum; k++) {
        double c[M3AE_TASK_MAX_DENOMS];
        int rc = t->next(r->train, &r->leased[k], err);
        if ((code = all_ok(r, rc, err, M3AE_EXIT_DATA))) return code;
        t->counts(r->leased[k], c);
        for (int j = 0; j < t->n_denoms; j++) denoms[j] += c[j];
    }
    m3ae_dist_sum_doubles(denoms, t->n_denoms);
    return 0;
}

static int train(run *r, int64_t start) {
    const m3ae_train_config *c = r->cfg;
    const m3ae_task *t = r->task;
    m3ae_error err = {{0}};
    double gemm = m3ae_backend_gemm_gflops(m3ae_model_backend(r->model));
    double peak = c->peak_tflops > 0 ? c->peak_tflops * 1e12 : gemm * 1e9; /* per rank */
    print_startup(r, gemm);
    if (r->rank == 0) m3ae_metrics_print_header(stdout, t->train_metrics, t->n_train_metrics);
    float *params = m3ae_model_params(r->model), *grads = m3ae_model_grads(r->model);
    double t_log = m3ae_now_s(), t_start = t_log;
    int64_t steps_since_log = 0, done = start;
    m3ae_metric_set interval, stepm; /* over the log interval; over one step */
    m3ae_metric_set_init(&interval, t->train_metrics, t->n_train_metrics);
    m3ae_metric_set_init(&stepm, t->train_metrics, t->n_train_metrics);
    double values[M3AE_TASK_MAX_METRICS];
    int code = 0;
    for (int64_t step = start; step < c->max_steps; step++) {
        m3ae_model_zero_grads(r->model);
        double denoms[M3AE_TASK_MAX_DENOMS];
        if ((code = lease_step(r, denoms, &err))) break;
        m3ae_metric_set_zero(&stepm);
        for (int64_t k = 0; k < r->accum; k++) {
            m3ae_batch b = t->model_batch(r->leased[k], (uint64_t)step, denoms);
            m3ae_losses l;
            run_train(r, &b, k == r->accum - 1, &l);
            t->observe(&l, r->leased[k], 0, stepm.num, stepm.den);
            t->release(r->train, r->leased[k]);
        }
        check_all_ready(r);
        if (r->world > 1) m3ae_dist_allreduce_sum(grads, r->reg->arena_floats);
        double gnorm = m3ae_adamw_step(m3ae_model_backend(r->model), &r->opt, r->reg, params, grads, r->exp_avg,
                                       r->exp_avg_sq, step);
        m3ae_metric_set_reduce_ranks(&stepm);
        m3ae_metric_set_count_step(&stepm);
        m3ae_metric_set_add(&interval, &stepm);
        done = step + 1;
        steps_since_log++;

        int stop_signal = m3ae_dist_any(m3ae_signals_pending());
        int stop_after = c->stop_after > 0 && done >= c->stop_after;
        if (done % c->log_every == 0 || done == c->max_steps || done == start + 1 || stop_signal || stop_after) {
            double now = m3ae_now_s(), dt = (now - t_log) / (double)steps_since_log;
            uint64_t epoch, position;
            t->get_state(r->train, &epoch, &position);
            m3ae_step_metrics m = {.step = done,
                                   .max_steps = c->max_steps,
                                   .epoch = epoch,
                                   .lr = m3ae_lr_schedule(step, r->opt.warmup_steps, r->opt.max_steps) * c->learning_rate,
                                   .grad_norm = gnorm,
                                   .samples_per_s = (double)c->batch_size / dt};
            double work, official; /* the work of this interval's batches */
            t->flops(c, &interval, &work, &official, NULL, 0);
            m.mfu = m.samples_per_s * work / (peak * r->world);
            m.eta_s = dt * (double)(c->max_steps - done);
            m3ae_metric_set_values(&interval, values);
            if (r->rank == 0) {
                m3ae_metrics_print(stdout, &m, interval.defs, interval.n, values);
                m3ae_metrics_json(r->metrics, &m, interval.defs, interval.n, values);
            }
            m3ae_metric_set_zero(&interval);
            steps_since_log = 0;
        }
        if (r->val && c->val_every > 0 && (done % c->val_every == 0 || done == c->max_steps)) validate(r, done);
        int ckpt = (c->ckpt_every > 0 && done % c->ckpt_every == 0) || done == c->max_steps || stop_signal || stop_after;
        if (ckpt && (code = save_checkpoint(r, done, &err))) break;
        if (steps_since_log == 0) t_log = m3ae_now_s(); /* speed excludes validation and checkpoint time */
        if (stop_signal) {
            m3ae_info("stopped on %s after step %lld: the checkpoint is written; run the same command again to resume "
                      "from %s", m3ae_signal_name(m3ae_signals_pending() ? m3ae_signals_pending() : 0),
                      (long long)done, r->paths->out_dir);
            code = M3AE_EXIT_OK, done = -1;
            break;
        }
        if (stop_after && done < c->max_steps) {
            m3ae_info("stopped after step %lld (stop_after = %lld); run the same command again to resume from %s",
                      (long long)done, (long long)c->stop_after, r->paths->out_dir);
            code = M3AE_EXIT_OK, done = -1;
            break;
        }
    }
    m3ae_metric_set_free(&interval);
    m3ae_metric_set_free(&stepm);
    if (code || done < 0) return code;
    char dur[32], marker[4400], text[128];
    m3ae_info("%s finished: %lld steps in %s; checkpoints in %s/checkpoints", t->name, (long long)done,
              m3ae_format_duration(m3ae_now_s() - t_start, dur, sizeof dur), r->paths->out_dir);
    /* RUN_DIR/finished tells job scripts (launch/slurm/pretrain.sbatch) not to requeue */
    int rc = 0;
    if (r->rank == 0) {
        snprintf(marker, sizeof marker, "%s/finished", r->paths->out_dir);
        snprintf(text, sizeof text, "%lld\n", (long long)done);
        rc = m3ae_write_file_atomic(marker, text, &err);
    }
    return all_ok(r, rc, &err, M3AE_EXIT_SYSTEM);
}

static m3ae_adamw_config optimizer_config(const m3ae_train_config *c) {
    m3ae_adamw_config o = m3ae_adamw_official();
    o.learning_rate = c->learning_rate, o.weight_decay = c->weight_decay;
    o.lr_mult_head = c->lr_mult_head, o.lr_mult_multi_modal = c->lr_mult_multi_modal;
    o.beta1 = c->adam_beta1, o.beta2 = c->adam_beta2, o.eps = c->adam_eps;
    o.grad_clip = c->grad_clip;
    o.warmup_steps = m3ae_train_warmup_steps(c), o.max_steps = c->max_steps;
    return o;
}

int m3ae_trainer_run(const m3ae_task *task, const m3ae_train_config *cfg, const m3ae_trainer_paths *paths, int rank,
                     int world) {
    M3AE_CHECK(task->n_denoms <= M3AE_TASK_MAX_DENOMS && task->n_train_metrics <= M3AE_TASK_MAX_METRICS &&
                   task->n_val_metrics <= M3AE_TASK_MAX_METRICS, M3AE_EXIT_FAIL,
               "task %s has %d loss denominators, %d + %d metrics: more than the trainer holds", task->name,
               task->n_denoms, task->n_train_metrics, task->n_val_metrics);
    run r;
    memset(&r, 0, sizeof r);
    r.task = task, r.cfg = cfg, r.paths = paths, r.rank = rank, r.world = world;
    m3ae_error err = {{0}};
    int code = 0, rc = 0;
    r.accum = m3ae_train_accum(cfg, world);
    r.opt = optimizer_config(cfg);

    /* run folder, data: the training source leases a whole step's micro-batches */
    if (rank == 0 && m3ae_mkdir_p(paths->out_dir) != 0)
        rc = m3ae_error_set(&err, "cannot create the run folder %s: %s", paths->out_dir, strerror(errno));
    if ((code = all_ok(&r, rc, &err, M3AE_EXIT_SYSTEM))) goto out;
    rc = open_source(&r, paths->data_dir, (int)r.accum, &r.train, &err);
    if ((code = all_ok(&r, rc, &err, M3AE_EXIT_DATA))) goto out;
    if (paths->val_dir && cfg->val_every > 0) {
        rc = open_source(&r, paths->val_dir, 1, &r.val, &err);
        if ((code = all_ok(&r, rc, &err, M3AE_EXIT_DATA))) goto out;
    }

    /* model and optimizer state: planned and allocated once */
    m3ae_backend_options bopt = {.threads = (int)cfg->threads, .act_dtype = M3AE_DTYPE_F32};
    m3ae_backend *be = m3ae_backend_open(cfg->device, &bopt, &err);
    if ((code = all_ok(&r, be == NULL, &err, M3AE_EXIT_USAGE))) goto out;
    r.model = m3ae_model_create(&cfg->model, be, (int)cfg->per_gpu_batchsize);
    r.reg = m3ae_model_registry(r.model);
    r.ready = m3ae_alloc((size_t)r.reg->n, "the gradient-ready marks");
    memset(r.ready, 0, (size_t)r.reg->n);
    m3ae_model_set_grad_hook(r.model, grad_ready, &r);
    m3ae_model_init_params(r.model, (uint64_t)cfg->seed);
    m3ae_model_set_train(r.model, 1, (uint64_t)cfg->seed);
    /* AdamW moments in backend memory (the CPU backend's is host memory, which restore reads into) */
    r.exp_avg = be->ops->alloc(be, r.reg->arena_floats * sizeof(float), "AdamW first moments");
    r.exp_avg_sq = be->ops->alloc(be, r.reg->arena_floats * sizeof(float), "AdamW second moments");
    r.leased = m3ae_alloc((size_t)r.accum * sizeof *r.leased, "the step's micro-batches");
    m3ae_metric_set_init(&r.val_set, task->val_metrics, task->n_val_metrics);

    int64_t start = restore(&r, &code);
    if (code) goto out;
    if (rank == 0) {
        char path[4400];
        snprintf(path, sizeof path, "%s/config.cfg", paths->out_dir);
        rc = m3ae_write_file_atomic(path, paths->config_text, &err);
        snprintf(path, sizeof path, "%s/metrics.jsonl", paths->out_dir);
        if (rc == 0 && !(r.metrics = fopen(path, "a"))) rc = m3ae_error_set(&err, "cannot open %s: %s", path, strerror(errno));
    }
    if ((code = all_ok(&r, rc, &err, M3AE_EXIT_SYSTEM))) goto out;
    if (start >= cfg->max_steps) {
        m3ae_info("%s has finished all %lld steps already; nothing to do (raise max_steps to train on)", paths->out_dir,
                  (long long)cfg->max_steps);
        goto out;
    }
    code = train(&r, start);

out:
    if (r.metrics) fclose(r.metrics);
    m3ae_free(r.leased);
    m3ae_free(r.ready);
    if (r.val_set.num) m3ae_metric_set_free(&r.val_set);
    if (r.model) {
        m3ae_backend *mbe = m3ae_model_backend(r.model);
        if (r.exp_avg) mbe->ops->free(mbe, r.exp_avg);
        if (r.exp_avg_sq) mbe->ops->free(mbe, r.exp_avg_sq);
        m3ae_model_destroy(r.model);
        m3ae_backend_close(mbe);
    }
    if (r.val) task->close(r.val);
    if (r.train) task->close(r.train);
    return code;
}
