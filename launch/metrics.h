/* Training metrics as named scalars. A task names its metrics (m3ae_metric_def) and says how each
 * reduces; the trainer accumulates them over micro-batches, ranks and the log interval and prints
 * what the task names: one line per log step on rank 0, the same numbers as JSON lines in
 * RUN_DIR/metrics.jsonl, and a validation line. The trainer's own columns (step, epoch, lr, gradient
 * norm, speed, MFU, ETA) are fixed; MFU is from the model's FLOP model against a device peak (the
 * GEMM rate probe is the backend's: m3ae_backend_gemm_gflops in model/backend.h). */
#ifndef M3AE_LAUNCH_METRICS_H
#define M3AE_LAUNCH_METRICS_H

#include <stdint.h>
#include <stdio.h>

typedef enum {
    /* A value that is already a global mean per step (a loss normalised by global counts: summed over
     * ranks and micro-batches it is the step's loss), averaged over the steps of a log interval. */
    M3AE_METRIC_STEP_MEAN,
    /* sum of numerators / max(1, sum of denominators) over everything (accuracies; validation
     * losses as loss * count over count). */
    M3AE_METRIC_RATIO,
    /* The sum of the set's STEP_MEAN metrics (in their order), averaged like them: the total loss.
     * Observers leave it at zero. */
    M3AE_METRIC_TOTAL,
} m3ae_metric_reduce;

typedef struct {
    const char *name;  /* JSON key (validation prefixes "val_") */
    const char *column; /* log-line column header (7 wide, %7.4f); NULL: JSON only */
    m3ae_metric_reduce reduce;
    int secondary; /* validation line: printed in the parenthesis after the main ones */
} m3ae_metric_def;

/* Accumulators of one set of metrics: num[i], den[i] for defs[i]. */
typedef struct {
    const m3ae_metric_def *defs;
    int n;
    double *num, *den;
} m3ae_metric_set;

/* Allocates zeroed accumulators (fatal when out of memory). */
void m3ae_metric_set_init(m3ae_metric_set *s, const m3ae_metric_def *defs, int n);
void m3ae_metric_set_free(m3ae_metric_set *s);
void m3ae_metric_set_zero(m3ae_metric_set *s);
/* s += t (same defs). */
void m3ae_metric_set_add(m3ae_metric_set *s, const m3ae_metric_set *t);
/* Marks one step for the STEP_MEAN / TOTAL metrics (their denominator counts steps). */
void m3ae_metric_set_count_step(m3ae_metric_set *s);
/* Sums the accumulators over ranks (one collective: every rank calls it). */
void m3ae_metric_set_reduce_ranks(m3ae_metric_set *s);
/* The reduced values (n of them) in defs order. */
void m3ae_metric_set_values(const m3ae_metric_set *s, double *values);

/* The trainer's columns of one log step. */
typedef struct {
    int64_t step, max_steps;
    uint64_t epoch;
    double lr, grad_norm;
    double samples_per_s, mfu, eta_s;
    /* where a step's time goes, ms per step over the log interval, the mean over ranks: compute
     * (forward, backward, optimizer), exposed communication (gradient all-reduce time not hidden
     * behind backward: all of it while the all-reduce is blocking), data wait (waiting for the
     * loader's leases); step_ms is the whole step */
    double compute_ms, comm_ms, data_ms, step_ms;
} m3ae_step_metrics;

/* Every straggler_every steps: the busy time per step of each rank (data wait + compute, i.e. the
 * step without waiting for the other ranks, which is what a slow rank has more of; the wall time
 * of a step is the same on every rank, since they meet in the all-reduce) across the ranks. */
typedef struct {
    int64_t step;     /* the last step of the window */
    int64_t steps;    /* steps in the window */
    double min_ms, median_ms, max_ms;
    int slowest_rank; /* the rank with max_ms */
    int ranks;
} m3ae_straggler;

/* The summary of n ranks' busy times (ms per step; ms[r] of rank r). */
void m3ae_straggler_summarise(const double *ms, int n, m3ae_straggler *s);
/* "straggler at step S (last 50 steps, 4 ranks): busy min 10.1 / median 10.3 / max 14.2 ms per step,
 * slowest rank 3 (+38 % over the median)" and {"split": "straggler", ...} */
void m3ae_metrics_print_straggler(FILE *f, const m3ae_straggler *s);
void m3ae_metrics_json_straggler(FILE *f, const m3ae_straggler *s);

/* The log line: step, epoch, the task's columns (values in defs order), then lr .. ETA. */
void m3ae_metrics_print_header(FILE *f, const m3ae_metric_def *defs, int n);
void m3ae_metrics_print(FILE *f, const m3ae_step_metrics *m, const m3ae_metric_def *defs, int n, const double *values);
void m3ae_metrics_json(FILE *f, const m3ae_step_metrics *m, const m3ae_metric_def *defs, int n, const double *values);
/* "validation at step S: a 0.1234  b 0.5678  (c 0.9, d 1.0)" and {"split": "val", "val_a": ...} */
void m3ae_metrics_print_val(FILE *f, int64_t step, const m3ae_metric_def *defs, int n, const double *values);
void m3ae_metrics_json_val(FILE *f, int64_t step, const m3ae_metric_def *defs, int n, const double *values);
/* "1h02m" */
const char *m3ae_format_duration(double seconds, char *buf, int n);

#endif
