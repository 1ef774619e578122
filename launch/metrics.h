/* Training metrics: one line per log step on rank 0 and the same numbers as JSON lines in
 * RUN_DIR/metrics.jsonl; MFU from the registry's FLOP model against a device peak (the GEMM rate
 * probe is the backend's: m3ae_backend_gemm_gflops in model/backend.h). */
#ifndef M3AE_LAUNCH_METRICS_H
#define M3AE_LAUNCH_METRICS_H

#include <stdint.h>
#include <stdio.h>

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

void m3ae_metrics_print_header(FILE *f);
void m3ae_metrics_print(FILE *f, const m3ae_step_metrics *m);
void m3ae_metrics_json(FILE *f, const m3ae_step_metrics *m);
void m3ae_metrics_print_val(FILE *f, const m3ae_val_metrics *v);
void m3ae_metrics_json_val(FILE *f, const m3ae_val_metrics *v);
/* "1h02m" */
const char *m3ae_format_duration(double seconds, char *buf, int n);

#endif
