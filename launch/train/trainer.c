/* The trainer (launch/train/trainer.h). */
#include "launch/train/trainer.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/ckpt.h"
#include "common/arena.h"
#include "common/build_info.h"
#include "common/log.h"
#include "common/sha256.h"
#include "common/sys.h"
#include "dist/dist.h"
#include "dist/buckets.h"
#include "dist/ring.h"
#include "dist/watchdog.h"
#include "launch/signals.h"
#include "launch/trace.h"
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
    m3ae_ring *ring;         /* the gradient all-reduce (allreduce key); NULL with one rank */
    m3ae_buckets *buckets;   /* its buckets, started from grad_ready (host gradients, several ranks) */
    double *sq;              /* (registry entries) gradient sums of squares, filled as buckets land */
    FILE *metrics;
    /* timings of this rank (seconds): sums over the log interval, and the busy time (data wait +
     * compute) over the straggler window */
    double t_compute, t_comm, t_data, t_busy;
    int64_t busy_steps;
    m3ae_trace *trace;   /* NULL: no timeline */
    int64_t trace_step;  /* the step the pass hook's events belong to */
    double pass_t0;      /* the pass hook's last phase change */
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
    if (r->buckets) m3ae_buckets_ready(r->buckets, first, n); /* starts completed buckets, polls the others */
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

/* The gradient all-reduce of the allreduce key (a collective: every rank calls it); none with one
 * rank. ring and hier add in host memory: a device backend's gradients go through MPI_Allreduce
 * (which then needs a CUDA-aware MPI). */
static m3ae_ring *open_allreduce(run *r, m3ae_backend *be) {
    if (r->world == 1) return NULL;
    m3ae_ar_algo algo = M3AE_AR_AUTO;
    M3AE_CHECK(m3ae_ar_algo_parse(r->cfg->allreduce, &algo) == 0, M3AE_EXIT_USAGE,
               "configuration key 'allreduce': '%s' is not one of auto|ring|hier|mpi", r->cfg->allreduce);
    if (!be->ops->is_host(be) && algo != M3AE_AR_MPI) {
        m3ae_info("allreduce = %s adds in host memory; the %s backend's gradients use MPI_Allreduce", r->cfg->allreduce,
                  be->name);
        algo = M3AE_AR_MPI;
    }
    m3ae_ring *g = m3ae_ring_create(algo);
    m3ae_info("gradient all-reduce: %s (allreduce = %s) over %d ranks on %d node(s)",
              m3ae_ar_algo_name(m3ae_ring_algo(g)), r->cfg->allreduce, m3ae_ring_world(g), m3ae_ring_nodes(g));
    return g;
}

/* ------------------------------------------------------------------ timings, timeline, watchdog */

/* Ends a span begun at t0: a timeline event (when the trace is on); returns its seconds. */
static double span(run *r, const char *name, const char *cat, int tid, int64_t step, double t0) {
    double t1 = m3ae_now_s();
    m3ae_trace_add(r->trace, name, cat, tid, step, t0, t1);
    return t1 - t0;
}

/* The model's pass hook: each pass's forward and backward as timeline events. */
static void pass_event(void *ctx, m3ae_pass pass, int phase) {
    static const char *names[] = {"MLM", "MIM", "ITM", "JOINT"};
    run *r = ctx;
    double now = m3ae_now_s();
    if (phase > 0) {
        char name[48];
        snprintf(name, sizeof name, "%s %s", phase == 1 ? "forward" : "backward",
                 (int)pass >= 0 && (int)pass < 4 ? names[pass] : "pass");
        m3ae_trace_add(r->trace, name, "compute", M3AE_TRACE_MAIN, r->trace_step, r->pass_t0, now);
    }
    r->pass_t0 = now;
}

/* Before a collective of the step: the watchdog learns what the rank waits for (and, when it runs,
 * which rank did not arrive); done() after the collective. */
static void arrive(const char *what) { m3ae_watchdog_arrive(what); }
static void done_waiting(void) { m3ae_watchdog_waiting(NULL, -1); }

/* The log line's timing columns: this interval's sums, averaged over ranks (a collective). */
static void interval_times(run *r, int64_t steps, m3ae_step_metrics *m, double dt) {
    double t[3] = {r->t_compute, r->t_comm, r->t_data};
    arrive("the sum of the step timings");
    m3ae_dist_sum_doubles(t, 3);
    done_waiting();
    double per = 1e3 / ((double)r->world * (double)steps);
    m->compute_ms = t[0] * per, m->comm_ms = t[1] * per, m->data_ms = t[2] * per, m->step_ms = dt * 1e3;
    r->t_compute = r->t_comm = r->t_data = 0;
}

/* Every straggler_every steps (several ranks): each rank's busy time per step to rank 0. */
static void straggler_line(run *r, int64_t done) {
    double mine = r->busy_steps ? 1e3 * r->t_busy / (double)r->busy_steps : 0;
    double *all = r->rank == 0 ? m3ae_alloc((size_t)r->world * sizeof *all, "the straggler times") : NULL;
    arrive("the gather of the step times (straggler line)");
    m3ae_dist_gather_doubles(&mine, 1, all);
    done_waiting();
    if (r->rank == 0) {
        m3ae_straggler s;
        m3ae_straggler_summarise(all, r->world, &s);
        s.step = done, s.steps = r->busy_steps;
        m3ae_metrics_print_straggler(stdout, &s);
        m3ae_metrics_json_straggler(r->metrics, &s);
        m3ae_free(all);
    }
    r->t_busy = 0, r->busy_steps = 0;
}

/* The timeline file: absolute, or inside the run folder. */
static m3ae_trace *open_trace(run *r) {
    const char *t = r->cfg->trace;
    if (!t[0]) return NULL;
    char path[4400];
    if (t[0] == '/') snprintf(path, sizeof path, "%s", t);
    else snprintf(path, sizeof path, "%s/%s", r->paths->out_dir, t);
    return m3ae_trace_open(path, r->rank, r->world, M3AE_TRACE_CAPACITY);
}

/* The gradient sum over ranks (the sum: the loss denominators are global already) and the AdamW
 * update. With buckets, each bucket is waited for in turn and its tensors' sums of squares taken as
 * it lands; without clipping its tensors are updated at once, while later buckets still travel;
 * with clipping the update waits for the global norm. The same bits as m3ae_adamw_step.
 * Timings: the waits are the exposed communication (what backward did not hide); the timeline shows
 * each bucket from its start (in the gradient-ready hook) to its arrival. */
static double reduce_and_update(run *r, float *params, float *grads, int64_t step) {
    m3ae_backend *be = m3ae_model_backend(r->model);
    int64_t shown = step + 1; /* the step number of the log */
    if (!r->buckets) {
        if (r->ring) {
            arrive("the gradient all-reduce");
            double t0 = m3ae_now_s();
            m3ae_ring_allreduce(r->ring, grads, r->reg->arena_floats, 0);
            r->t_comm += span(r, "allreduce", "comm", M3AE_TRACE_COMM, shown, t0);
            done_waiting();
        }
        double t_opt = m3ae_now_s();
        double gnorm = m3ae_adamw_step(be, &r->opt, r->reg, params, grads, r->exp_avg, r->exp_avg_sq, step);
        r->t_compute += span(r, "optimizer", "compute", M3AE_TRACE_MAIN, shown, t_opt);
        return gnorm;
    }
    const int clip_first = r->opt.grad_clip > 0;
    arrive("the gradient buckets' all-reduce");
    for (int k = 0; k < m3ae_buckets_count(r->buckets); k++) {
        double t_wait = m3ae_now_s();
        m3ae_buckets_wait(r->buckets, k);
        double t_landed = m3ae_now_s();
        r->t_comm += t_landed - t_wait;
        if (r->trace) {
            char name[48];
            snprintf(name, sizeof name, "allreduce bucket %d", k);
            m3ae_trace_add(r->trace, name, "comm", M3AE_TRACE_COMM, shown, m3ae_buckets_started_at(r->buckets, k),
                           t_landed);
        }
        int n;
        const int *ts = m3ae_buckets_tensors(r->buckets, k, &n);
        for (int j = 0; j < n; j++) {
            r->sq[ts[j]] = m3ae_adamw_tensor_sq(be, r->reg, grads, ts[j]);
            if (!clip_first)
                m3ae_adamw_tensor(be, &r->opt, r->reg, ts[j], params, grads, r->exp_avg, r->exp_avg_sq, step, 1.0f);
        }
        r->t_compute += span(r, "optimizer", "compute", M3AE_TRACE_MAIN, shown, t_landed);
    }
    done_waiting();
    double norm = m3ae_adamw_norm(r->reg, r->sq);
    if (clip_first) {
        double t_opt = m3ae_now_s();
        float clip = m3ae_adamw_clip_factor(&r->opt, norm);
        for (int i = 0; i < r->reg->n; i++)
            m3ae_adamw_tensor(be, &r->opt, r->reg, i, params, grads, r->exp_avg, r->exp_avg_sq, step, clip);
        r->t_compute += span(r, "optimizer", "compute", M3AE_TRACE_MAIN, shown, t_opt);
    }
    return norm;
}

/* Data parallelism keeps one model: at every checkpoint (rank 0 writes only its own copy) the ranks
 * compare a hash of their parameters' bits, and a difference stops the run. */
static void check_params_agree(run *r, int64_t done) {
    m3ae_backend *be = m3ae_model_backend(r->model);
    if (r->world == 1 || !be->ops->is_host(be)) return;
    const uint32_t *w = (const uint32_t *)m3ae_model_params(r->model);
    uint64_t h = 1469598103934665603ull; /* FNV-1a over the 32-bit words */
    for (size_t i = 0; i < r->reg->arena_floats; i++) h = (h ^ w[i]) * 1099511628211ull;
    double v[4] = {(double)(h >> 32), (double)(h & 0xffffffffu), -(double)(h >> 32), -(double)(h & 0xffffffffu)};
    m3ae_dist_max_doubles(v, 4);
    M3AE_CHECK(v[0] == -v[2] && v[1] == -v[3], M3AE_EXIT_FAIL,
               "step %lld: the parameters differ between ranks (rank %d hash %016llx; the all-reduce or the optimizer "
               "is not deterministic across ranks)", (long long)done, r->rank, (unsigned long long)h);
    m3ae_info("step %lld: parameters bitwise identical on all %d ranks (hash %016llx)", (long long)done, r->world,
              (unsigned long long)h);
}

/* The buckets of the gradient all-reduce (bucket_mb, the first one 1 MiB at most); none with one
 * rank or device gradients. */
static void open_buckets(run *r, m3ae_backend *be) {
    if (!r->ring || !be->ops->is_host(be)) return;
    double first = r->cfg->bucket_mb < 1.0 ? r->cfg->bucket_mb : 1.0;
    r->buckets = m3ae_buckets_create(r->reg, m3ae_model_grads(r->model), r->cfg->bucket_mb, first, r->ring);
    r->sq = m3ae_alloc((size_t)r->reg->n * sizeof(double), "the gradients' sums of squares");
    memset(r->sq, 0, (size_t)r->reg->n * sizeof(double));
    int inplace = 0;
    for (int k = 0; k < m3ae_buckets_count(r->buckets); k++) inplace += m3ae_buckets_in_place(r->buckets, k);
    m3ae_info("gradient buckets: %d of up to %g MiB (the first %g MiB), %d reduced in place, started as backward "
              "reports them", m3ae_buckets_count(r->buckets), r->cfg->bucket_mb, first, inplace);
}

/* ------------------------------------------------------------------ data */

static int open_source(run *r, const char *dir, int leases, m3ae_task_source **out, m3ae_error *err) {
    *out = r->task->open(r->task->ctx, dir, leases, r->rank, r->world, err);
    return *out ? 0 : -1;
}

/* ------------------------------------------------------------------ checkpoints */

/* Tests only: M3AE_TEST_FAIL_BEFORE_LATEST=RANK,STEP makes rank RANK die (SIGKILL, as a crash) after
 * the checkpoint of STEP is written and before `latest` may point at it; `latest` must then stay at
 * the previous checkpoint (tests/pretrain/test_latest_two_phase.sh). Checked here only. */
static void test_fail_before_latest(const run *r, int64_t done) {
    const char *v = getenv("M3AE_TEST_FAIL_BEFORE_LATEST");
    int rank;
    long long step;
    if (!v || sscanf(v, "%d,%lld", &rank, &step) != 2 || rank != r->rank || step != done) return;
    fprintf(stderr, "m3ae: test: rank %d dies between writing the checkpoint of step %lld and pointing latest at it "
                    "(M3AE_TEST_FAIL_BEFORE_LATEST)\n", r->rank, step);
    fflush(stderr);
    raise(SIGKILL);
}

/* The first tensor of the weights or AdamW moments holding NaN or Inf ("/model/<name>"), or NULL.
 * A finite loss and gradient norm can still leave an overflowed update; such a state must never
 * become the latest checkpoint. */
static const char *nonfinite_tensor(const run *r, char *buf, size_t n) {
    const float *arenas[3] = {m3ae_model_params(r->model), r->exp_avg, r->exp_avg_sq};
    const char *group[3] = {"/model", "/optimizer/exp_avg", "/optimizer/exp_avg_sq"};
    for (int a = 0; a < 3; a++)
        for (int i = 0; i < r->reg->n; i++) {
            const m3ae_param *p = &r->reg->p[i];
            const float *x = arenas[a] + p->offset;
            for (size_t k = 0; k < p->numel; k++)
                if (!isfinite(x[k])) {
                    snprintf(buf, n, "%s/%s", group[a], p->name);
                    return buf;
                }
        }
    return NULL;
}

/* The checkpoint's `data` attribute: what the run trains on, "DIR: N samples, manifest sha256 HEX".
 * The manifest (io/FORMAT.md) lists the shards with their checksums, so its hash names the dataset's
 * contents wherever the folder lives; resume compares it (launch/train_config.h). */
static void data_summary(const run *r, char *buf, size_t n) {
    char manifest[4200], hex[65];
    snprintf(manifest, sizeof manifest, "%s/manifest.json", r->paths->data_dir);
    if (m3ae_sha256_file(manifest, hex) != 0) snprintf(hex, sizeof hex, "unreadable");
    snprintf(buf, n, "%s: %llu samples, manifest sha256 %s", r->paths->data_dir,
             (unsigned long long)r->task->num_samples(r->train), hex);
}

/* Two phases: rank 0 writes the step file; every rank confirms that it reached this step (and rank 0
 * that the file is whole); only then rank 0 points `latest` at it. A rank that fails or dies before
 * confirming leaves `latest` at the previous checkpoint. Every rank learns whether it worked. */
static int save_checkpoint(run *r, int64_t done, m3ae_error *err) {
    int rc = 0;
    char path[4400] = "", bad[300];
    double t0 = m3ae_now_s(), t_file = 0;
    if (r->rank == 0 && nonfinite_tensor(r, bad, sizeof bad)) {
        fprintf(stderr, "m3ae: error: training diverged at step %lld: tensor %s holds NaN or Inf; no checkpoint of "
                        "this step is written: the last good one (if any) stays latest in %s/checkpoints\n",
                (long long)done, bad, r->paths->out_dir);
        rc = 1;
    }
    if (m3ae_dist_any(rc != 0)) return M3AE_EXIT_DIVERGED;
    if (r->rank == 0) {
        uint64_t epoch, position;
        r->task->get_state(r->train, &epoch, &position);
        m3ae_ckpt_meta meta = {.step = done, .epoch = (int64_t)epoch, .position = (int64_t)position,
                               .seed = r->cfg->seed, .world_size = r->world};
        snprintf(meta.config, sizeof meta.config, "%s", r->paths->config_text);
        data_summary(r, meta.data, sizeof meta.data);
        rc = m3ae_ckpt_save_step(r->paths->out_dir, r->reg, m3ae_model_params(r->model), r->exp_avg, r->exp_avg_sq,
                                 &meta, path, sizeof path, err);
        t_file = m3ae_now_s() - t0;
    }
    test_fail_before_latest(r, done);
    if (rc != 0) fprintf(stderr, "m3ae: error: [rank %d] %s\n", r->rank, err->msg);
    double confirm[2] = {rc != 0, (double)done}; /* failures, sum of the steps the ranks are at */
    arrive("the checkpoint agreement");
    m3ae_dist_sum_doubles(confirm, 2);
    done_waiting();
    M3AE_CHECK(confirm[1] == (double)done * r->world, M3AE_EXIT_FAIL,
               "rank %d: the ranks are not all at step %lld at its checkpoint (steps sum to %.0f over %d ranks): a bug "
               "in the trainer's control flow", r->rank, (long long)done, confirm[1], r->world);
    if (confirm[0] > 0) return M3AE_EXIT_SYSTEM;
    if (r->rank == 0) {
        rc = m3ae_ckpt_publish(r->paths->out_dir, done, (int)r->cfg->keep_last, err);
        if (rc == 0) m3ae_info("checkpoint %s written (%.1f s)", path, t_file);
    }
    arrive("the agreement on the latest checkpoint");
    int code = all_ok(r, rc, err, M3AE_EXIT_SYSTEM);
    done_waiting();
    span(r, "checkpoint", "checkpoint", M3AE_TRACE_MAIN, done, t0);
    return code;
}

/* A saved position that is no step boundary of this run's global batch (the global batch changed)
 * was rounded down by set_state: say so, since those samples are skipped or repeated. */
static void warn_rounded_state(run *r, uint64_t epoch, uint64_t position) {
    uint64_t e, p;
    r->task->get_state(r->train, &e, &p);
    if (r->rank == 0 && (e != epoch || p != position))
        m3ae_warn("the checkpoint's data position (epoch %llu, position %llu) is no step boundary of this run's "
                  "global batch %lld: continuing from (epoch %llu, position %llu)", (unsigned long long)epoch,
                  (unsigned long long)position, (long long)r->cfg->batch_size, (unsigned long long)e,
                  (unsigned long long)p);
}

/* The checkpoint to resume from: the one `latest` names, or, when latest is missing or broken, the
 * newest whole step file (a run must not restart from step 0 silently beside its checkpoints).
 * 0 found, 1 a new run (no latest, no step files), -1 refused (err). */
static int resume_point(const char *out, char *path, size_t n, m3ae_error *err) {
    m3ae_error why = {{0}};
    int l = m3ae_ckpt_latest(out, path, n, &why);
    if (l == 0) return 0;
    int w = m3ae_ckpt_find_whole(out, path, n, err);
    if (w < 0) return -1;
    if (w == 1) {
        if (l == 1) return 1;
        return m3ae_error_set(err, "%s, and %s/checkpoints holds no step files; delete it to start the run afresh",
                              why.msg, out);
    }
    if (l == 1) m3ae_warn("%s/checkpoints/latest is missing; resuming from the newest whole checkpoint, %s", out, path);
    else m3ae_warn("%s; resuming from the newest whole checkpoint, %s", why.msg, path);
    return 0;
}

/* Step files after the resumed step belong to another branch of the run (latest was pointed back,
 * or a newer file is broken): said once, kept, never pruned; this run overwrites them as it passes. */
static void warn_later_steps(const char *out, int64_t step) {
    int64_t newest = m3ae_ckpt_newest_step(out);
    if (newest > step)
        m3ae_warn("%s/checkpoints holds step files after step %lld (up to step %lld): they are not part of this "
                  "run's history from here on and are kept; this run overwrites them when it reaches their steps",
                  out, (long long)step, (long long)newest);
}

/* "N samples, manifest sha256 HEX": the part of a data summary that names the contents (the folder
 * may move between jobs). */
static const char *data_identity(const char *summary) {
    const char *colon = strrchr(summary, ':');
    return colon && colon[1] == ' ' ? colon + 2 : summary;
}

/* A resume continues the checkpoint's data order and model: the keys that change them (and the
 * dataset) must match, unless --allow-config-change (launch/train_config.h lists the free keys).
 * Returns 0, or -1 with err (rank 0 prints every difference first). */
static int check_resume_config(run *r, const char *path, const m3ae_ckpt_meta *meta, m3ae_error *err) {
    m3ae_train_config *old = malloc(sizeof *old);
    char refused[4096] = "", free_keys[4096] = "", now[1024];
    if (!old) return m3ae_error_set(err, "out of memory comparing configurations");
    m3ae_train_config_defaults(old);
    m3ae_error why = {{0}};
    int n = 0;
    if (m3ae_train_config_from_text(old, meta->config, &why) != 0)
        snprintf(refused, sizeof refused, "configuration: unreadable (%s)", why.msg), n = 1;
    else n = m3ae_train_config_resume_diff(old, r->cfg, refused, sizeof refused, free_keys, sizeof free_keys);
    free(old);
    data_summary(r, now, sizeof now);
    if (!meta->data[0]) {
        m3ae_warn("%s records no dataset (an older m3ae): the dataset is not compared", path);
    } else if (strcmp(data_identity(meta->data), data_identity(now)) != 0) {
        size_t len = strlen(refused);
        snprintf(refused + len, sizeof refused - len, "%sdataset: %s -> %s", len ? ", " : "", meta->data, now);
        n++;
    }
    if (free_keys[0]) m3ae_info("resuming with changed keys that keep the data order: %s", free_keys);
    if (n == 0) return 0;
    if (r->paths->allow_config_change) {
        m3ae_warn("--allow-config-change: resuming from %s although these change the data order or the model: %s",
                  path, refused);
        return 0;
    }
    fprintf(stderr, "m3ae: error: resuming %s from %s would change the data order or the model: %s\n",
            r->paths->out_dir, path, refused);
    return m3ae_error_set(err, "refused to resume from %s with %d changed key(s) (listed above); resume with the "
                               "checkpoint's values (its config attribute: m3ae ckpt inspect), give another --out "
                               "for a new run, or --allow-config-change to continue anyway", path, n);
}

/* Reads a resume checkpoint: attributes, the configuration check, then weights and moments. A
 * refused configuration still tries the load, so that tensors of another shape are reported as
 * such (after the list of differences); nothing is written either way. */
static int open_resume(run *r, const char *path, m3ae_ckpt_meta *meta, m3ae_error *err) {
    if (m3ae_ckpt_read_meta(path, meta, err) != 0) return -1;
    int refused = check_resume_config(r, path, meta, err);
    m3ae_error load_err = {{0}};
    if (m3ae_ckpt_load(path, r->reg, m3ae_model_params(r->model), r->exp_avg, r->exp_avg_sq, meta, 1, &load_err)) {
        *err = load_err;
        return -1;
    }
    return refused;
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
        int l = !meta ? m3ae_error_set(&err, "out of memory") : resume_point(out, latest, sizeof latest, &err);
        if (l < 0) rc = -1;
        else if (l == 0) {
            found = 1;
            rc = open_resume(r, latest, meta, &err);
            m3ae_error why = {{0}};
            if (rc != 0 && m3ae_ckpt_check_whole(latest, &why) != 0) { /* broken, not merely another model */
                m3ae_warn("the checkpoint latest names is not whole (%s); looking for the newest whole one", why.msg);
                rc = m3ae_ckpt_find_whole(out, latest, sizeof latest, &err) == 0 ? 0 : -1;
                if (rc == 0) rc = open_resume(r, latest, meta, &err);
            }
            if (rc == 0) warn_later_steps(out, meta->step);
            if (rc == 0) {
                state[0] = meta->step, state[1] = meta->epoch, state[2] = meta->position;
                m3ae_info("resuming %s from %s: step %lld, epoch %lld, position %lld (written by %lld ranks)", out,
                          latest, (long long)meta->step, (long long)meta->epoch, (long long)meta->position,
                          (long long)meta->world_size);
                if (!meta->attr_checksum)
                    m3ae_warn("%s has no attribute checksum (written by an older m3ae): its step, loader state and "
                              "configuration are unchecked", latest);
                if (meta->world_size != r->world)
                    m3ae_info("the checkpoint was written by %lld ranks and this run has %d: the data order is defined "
                              "by the global batch, so it continues at the same global position",
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
        warn_rounded_state(r, (uint64_t)state[1], (uint64_t)state[2]);
    }
    return state[0];
}

/* ------------------------------------------------------------------ validation */

/* The validation micro-batches: val_batches, at most one pass over the validation data (a larger
 * value means the whole split once, not a wrap-around into repeats). */
static int64_t val_batch_count(const run *r) {
    const uint64_t pass = r->task->batches_per_epoch(r->val);
    return pass > 0 && (uint64_t)r->cfg->val_batches > pass ? (int64_t)pass : r->cfg->val_batches;
}

/* The task's own passes, forward only, on the first val_batch_count micro-batches of the validation
 * data (from its start every time), without dropout; the metrics summed over batches and ranks. */
static void validate(run *r, int64_t done) {
    const m3ae_task *t = r->task;
    m3ae_error err;
    m3ae_metric_set *vs = &r->val_set;
    m3ae_metric_set_zero(vs);
    m3ae_model_set_train(r->model, 0, (uint64_t)r->cfg->seed);
    if (t->set_state(r->val, 0, 0, &err) != 0) M3AE_FATAL(M3AE_EXIT_DATA, "%s", err.msg);
    const int64_t n_val = val_batch_count(r);
    for (int64_t i = 0; i < n_val; i++) {
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
    if (t->after_validation) t->after_validation(t->ctx, r->model, done, r->rank);
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
        printf("  validation %s: %lld batches every %lld steps%s\n", r->paths->val_dir, (long long)val_batch_count(r),
               (long long)c->val_every, val_batch_count(r) < c->val_batches ? " (the whole split once)" : "");
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

/* ------------------------------------------------------------------ stops */

/* A stop signal must not wait for the end of a long step: under mpirun the ranks have only the
 * launcher's grace (odls_base_sigkill_timeout, 1 s by default) between SIGTERM and SIGKILL. So the
 * loop looks for it before every micro-batch, collectively (every rank calls the same m3ae_dist_any
 * in the same order, whichever rank the signal reached), and a step in progress is either finished
 * (when the rest of it fits well within a known grace) or abandoned before its optimizer update. */

/* Whether the ranks abandon the step of which k micro-batches ran since t_step: always before the
 * first (nothing is lost), and when the rest of the step plus a checkpoint (ckpt_s, the last write's
 * time) could outlast half the grace (M3AE_STOP_GRACE_S; unknown: abandon). Any rank's estimate counts. */
static int abandon_step(const run *r, int64_t k, double t_step, double ckpt_s) {
    double grace = m3ae_signals_grace_s();
    int local = 1;
    if (k > 0 && grace > 0) {
        double left = (m3ae_now_s() - t_step) / (double)k * (double)(r->accum - k);
        local = left + ckpt_s > 0.5 * grace;
    }
    return m3ae_dist_any(local);
}

/* RUN_DIR/stopped, written by rank 0 once a stop on a signal has saved the state (its checkpoint, or
 * none needed), says "stopped cleanly after step N on SIGNAL": mpirun exits 1 whenever it was
 * signalled itself although every rank exited 0, so launch/local.sh tells a clean stop by this file
 * (it removes the file before each launch). */
static int write_stopped(run *r, int64_t step) {
    m3ae_error err = {{0}};
    int rc = 0;
    if (r->rank == 0) {
        char path[4400], text[128];
        snprintf(path, sizeof path, "%s/stopped", r->paths->out_dir);
        snprintf(text, sizeof text, "%lld %s\n", (long long)step, m3ae_signal_name(m3ae_signals_pending()));
        rc = m3ae_write_file_atomic(path, text, &err);
    }
    return all_ok(r, rc, &err, M3AE_EXIT_SYSTEM);
}

/* Step `step` (0-based; micro-batches 0..k-1 of it ran) is dropped: the parameters and AdamW moments
 * are still those of the last finished step, the data source goes back to the step's start
 * (epoch0, position0), and the checkpoint of the last finished step is written with that position,
 * so that a resume redoes the step exactly; unless that checkpoint exists already (saved: the step of
 * the last checkpoint this run wrote or resumed from; 0 for a fresh run, whose initialisation needs
 * none). Returns an exit code. */
static int stop_abandoned(run *r, int64_t step, int64_t saved, int64_t k, uint64_t epoch0, uint64_t position0) {
    m3ae_error err = {{0}};
    for (int64_t j = k; j < r->accum; j++) r->task->release(r->train, r->leased[j]);
    memset(r->ready, 0, (size_t)r->reg->n); /* no gradient of the dropped step counts */
    int rc = r->task->set_state(r->train, epoch0, position0, &err);
    int code = all_ok(r, rc, &err, M3AE_EXIT_FAIL);
    if (code) return code;
    if (step > saved && (code = save_checkpoint(r, step, &err))) return code;
    if ((code = write_stopped(r, step))) return code;
    m3ae_info("stopped on %s after step %lld: step %lld was abandoned after %lld of %lld micro-batches, before its "
              "optimizer update; %s; run the same command again to resume from %s (it redoes step %lld)",
              m3ae_signal_name(m3ae_signals_pending()), (long long)step, (long long)step + 1, (long long)k,
              (long long)r->accum,
              step > saved ? "the checkpoint is written"
              : step > 0   ? "the checkpoint of that step exists already"
                           : "no step has finished, so there is nothing to save",
              r->paths->out_dir, (long long)step + 1);
    return M3AE_EXIT_OK;
}

/* ------------------------------------------------------------------ the loop */

/* Leases the step's accum micro-batches and sums their loss denominators over them and all ranks. */
static int lease_step(run *r, double *denoms, m3ae_error *err) {
    const m3ae_task *t = r->task;
    int code;
    for (int j = 0; j < t->n_denoms; j++) denoms[j] = 0;
    for (int64_t k = 0; k < r->accum; k++) {
        double c[M3AE_TASK_MAX_DENOMS];
        m3ae_watchdog_waiting("the data loader (a micro-batch lease)", -1);
        double t0 = m3ae_now_s();
        int rc = t->next(r->train, &r->leased[k], err);
        r->t_data += span(r, "loader wait", "data", M3AE_TRACE_MAIN, r->trace_step, t0);
        arrive("the agreement on the micro-batch leases");
        code = all_ok(r, rc, err, M3AE_EXIT_DATA);
        done_waiting();
        if (code) return code;
        t->counts(r->leased[k], c);
        for (int j = 0; j < t->n_denoms; j++) denoms[j] += c[j];
    }
    arrive("the sum of the loss denominators");
    m3ae_dist_sum_doubles(denoms, t->n_denoms);
    done_waiting();
    return 0;
}

/* Divergence: a non-finite loss term or gradient norm of step `done` stops the run before anything
 * of that step is logged or checkpointed, so that the last good checkpoint stays latest. The step
 * metrics are reduced over ranks and the norm is of the summed gradients: every rank sees the same
 * values and stops together. Returns M3AE_EXIT_DIVERGED or 0. */
static int check_diverged(run *r, const m3ae_metric_set *stepm, double gnorm, int64_t done) {
    double v[M3AE_TASK_MAX_METRICS];
    m3ae_metric_set_values(stepm, v);
    int bad = !isfinite(gnorm);
    for (int i = 0; i < stepm->n; i++) bad |= !isfinite(v[i]);
    if (!bad) return 0;
    if (r->rank == 0) {
        char terms[1024] = "", all[2048] = "";
        for (int i = 0; i < stepm->n; i++) {
            char *dst = isfinite(v[i]) ? all : terms;
            size_t len = strlen(dst), cap = dst == all ? sizeof all : sizeof terms;
            snprintf(dst + len, cap - len, "%s%s = %g", len ? ", " : "", stepm->defs[i].name, v[i]);
        }
        fprintf(stderr,
                "m3ae: error: training diverged at step %lld: %s%sgradient norm = %g%s%s. No checkpoint of this step is "
                "written: the last good one (if any) stays latest in %s/checkpoints; lower learning_rate (or set "
                "grad_clip, a longer warmup_steps) and run again to resume from it\n",
                (long long)done, terms, terms[0] ? " (non-finite); " : "", gnorm, all[0] ? "; finite: " : "", all,
                r->paths->out_dir);
    }
    return M3AE_EXIT_DIVERGED;
}

/* RUN_DIR/finished (the step the run stands at) tells job scripts (launch/slurm/pretrain.sbatch) not
 * to requeue: at the end of training and for a resume with nothing left to do. Every rank learns
 * whether it was written. */
static int mark_finished(run *r, int64_t done) {
    m3ae_error err = {{0}};
    char marker[4400], text[64];
    int rc = 0;
    if (r->rank == 0) {
        snprintf(marker, sizeof marker, "%s/finished", r->paths->out_dir);
        snprintf(text, sizeof text, "%lld\n", (long long)done);
        rc = m3ae_write_file_atomic(marker, text, &err);
    }
    return all_ok(r, rc, &err, M3AE_EXIT_SYSTEM);
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
    double ckpt_s = 0;     /* the last checkpoint write's time, for abandon_step */
    int64_t saved = start; /* the step of the newest checkpoint (resumed from or written), for stop_abandoned */
    for (int64_t step = start; step < c->max_steps; step++) {
        m3ae_watchdog_step_begin(step + 1);
        r->trace_step = step + 1;
        double data0 = r->t_data, compute0 = r->t_compute;
        uint64_t epoch0, position0; /* the data position of this step's start, for a stop that abandons it */
        t->get_state(r->train, &epoch0, &position0);
        m3ae_model_zero_grads(r->model);
        double denoms[M3AE_TASK_MAX_DENOMS];
        if ((code = lease_step(r, denoms, &err))) break;
        m3ae_metric_set_zero(&stepm);
        double t_step = m3ae_now_s(), t_comp = t_step;
        int finish_first = 0; /* a stop was agreed and this step is finished before it */
        int64_t k = 0;
        for (; k < r->accum; k++) {
            arrive("the agreement on stop signals");
            int stop_now = !finish_first && m3ae_dist_any(m3ae_signals_pending());
            done_waiting();
            if (stop_now) {
                if (abandon_step(r, k, t_step, ckpt_s)) break;
                finish_first = 1;
            }
            m3ae_batch b = t->model_batch(r->leased[k], (uint64_t)step, denoms);
            m3ae_losses l;
            run_train(r, &b, k == r->accum - 1, &l);
            t->observe(&l, r->leased[k], 0, stepm.num, stepm.den);
            t->release(r->train, r->leased[k]);
        }
        if (k < r->accum) {
            code = stop_abandoned(r, step, saved, k, epoch0, position0);
            done = -1;
            break;
        }
        check_all_ready(r);
        r->t_compute += m3ae_now_s() - t_comp;
        double gnorm = reduce_and_update(r, params, grads, step);
        r->t_busy += (r->t_data - data0) + (r->t_compute - compute0), r->busy_steps++;
        arrive("the sum of the step's metrics");
        m3ae_metric_set_reduce_ranks(&stepm);
        done_waiting();
        m3ae_metric_set_count_step(&stepm);
        m3ae_metric_set_add(&interval, &stepm);
        if ((code = check_diverged(r, &stepm, gnorm, step + 1))) break;
        done = step + 1;
        steps_since_log++;

        /* a stop in the last step lets the run finish: its checkpoint is written anyway */
        arrive("the agreement on stop signals");
        int stop_signal = m3ae_dist_any(m3ae_signals_pending()) && done < c->max_steps;
        done_waiting();
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
            interval_times(r, steps_since_log, &m, dt);
            m3ae_metric_set_values(&interval, values);
            if (r->rank == 0) {
                m3ae_metrics_print(stdout, &m, interval.defs, interval.n, values);
                m3ae_metrics_json(r->metrics, &m, interval.defs, interval.n, values);
            }
            m3ae_metric_set_zero(&interval);
            steps_since_log = 0;
        }
        if (r->world > 1 && c->straggler_every > 0 && done % c->straggler_every == 0) straggler_line(r, done);
        /* a stop writes its checkpoint first: a validation due at this step is skipped */
        if (r->val && c->val_every > 0 && !stop_signal && (done % c->val_every == 0 || done == c->max_steps)) {
            double t_val = m3ae_now_s();
            validate(r, done);
            span(r, "validation", "validation", M3AE_TRACE_MAIN, done, t_val);
        }
        int ckpt = (c->ckpt_every > 0 && done % c->ckpt_every == 0) || done == c->max_steps || stop_signal || stop_after;
        if (ckpt) check_params_agree(r, done);
        double t_ckpt = m3ae_now_s();
        if (ckpt && (code = save_checkpoint(r, done, &err))) break;
        if (ckpt) ckpt_s = m3ae_now_s() - t_ckpt, saved = done;
        m3ae_watchdog_step_end();
        if (steps_since_log == 0) t_log = m3ae_now_s(); /* speed excludes validation and checkpoint time */
        if (stop_signal && (code = write_stopped(r, done))) break;
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
    char dur[32];
    m3ae_info("%s finished: %lld steps in %s; checkpoints in %s/checkpoints", t->name, (long long)done,
              m3ae_format_duration(m3ae_now_s() - t_start, dur, sizeof dur), r->paths->out_dir);
    return mark_finished(r, done);
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
    r.model = m3ae_model_create(&cfg->model, be, (int)cfg->per_gpu_batchsize * (task->rows_per_sample > 1 ? task->rows_per_sample : 1));
    r.reg = m3ae_model_registry(r.model);
    r.ready = m3ae_alloc((size_t)r.reg->n, "the gradient-ready marks");
    memset(r.ready, 0, (size_t)r.reg->n);
    m3ae_model_set_grad_hook(r.model, grad_ready, &r);
    r.ring = open_allreduce(&r, be);
    open_buckets(&r, be);
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
        code = mark_finished(&r, start); /* else a job script would requeue this run forever */
        goto out;
    }
    r.trace = open_trace(&r);
    if (r.trace) m3ae_model_set_pass_hook(r.model, pass_event, &r);
    m3ae_watchdog_start(cfg->watchdog_s);
    code = train(&r, start);
    m3ae_watchdog_stop();
    if (r.trace) { /* also after a stop: every rank returns from train() together */
        rc = m3ae_trace_write(r.trace, &err);
        int wcode = all_ok(&r, rc, &err, M3AE_EXIT_SYSTEM);
        if (wcode == 0) m3ae_info("timeline of the run in %s%s%s (open it in ui.perfetto.dev or chrome://tracing)",
                                  cfg->trace[0] == '/' ? "" : paths->out_dir, cfg->trace[0] == '/' ? "" : "/",
                                  cfg->trace);
        if (!code) code = wcode;
    }

out:
    m3ae_buckets_destroy(r.buckets);
    m3ae_free(r.sq);
    m3ae_ring_destroy(r.ring);
    m3ae_watchdog_stop();
    m3ae_trace_close(r.trace);
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
