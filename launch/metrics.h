/* Training metrics: one line per log step on rank 0 and the same numbers as JSON lines in
 * RUN_DIR/metrics.jsonl; MFU from the registry's FLOP model against a device peak. */
#ifndef M3AE_LAUNCH_METRICS_H
#define M3AE_LAUNCH_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "model/ops.h"

typedef struct {
    int64_t step, max_steps;
    uint64_t epoch;
    double loss, mlm_loss, mim_loss, itm_loss;
    double mlm_acc, itm_acc;
    double lr, grad_norm;
    double samples_per_s, mfu, eta_s;
} m3ae_step_metrics;

typedef struct {
    int64_t step;
    double mlm_acc, itm_acc, mim_loss, mlm_loss, itm_loss;
} m3ae_val_metrics;

/* Single-precision GEMM rate of this process's compute (GFLOP/s), measured with ops->gemm on a
 * 1024^3 product: the "peak" for MFU on CPUs. */
double m3ae_measure_gemm_gflops(const m3ae_ops *ops);

void m3ae_metrics_print_header(FILE *f);
void m3ae_metrics_print(FILE *f, const m3ae_step_metrics *m);
void m3ae_metrics_json(FILE *f, const m3ae_step_metrics *m);
void m3ae_metrics_print_val(FILE *f, const m3ae_val_metrics *v);
void m3ae_metrics_json_val(FILE *f, const m3ae_val_metrics *v);
/* "1h02m" */
const char *m3ae_format_duration(double seconds, char *buf, int n);

#endif
