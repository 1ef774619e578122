#include "launch/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "common/arena.h"
#include "common/error.h"
#include "common/sys.h"
#include "dist/dist.h"

const char *m3ae_format_duration(double s, char *buf, int n) {
    if (!isfinite(s) || s < 0) snprintf(buf, (size_t)n, "?");
    else if (s < 60) snprintf(buf, (size_t)n, "%.0fs", s);
    else if (s < 3600) snprintf(buf, (size_t)n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else snprintf(buf, (size_t)n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    return buf;
}

/* ------------------------------------------------------------------ named scalars */

void m3ae_metric_set_init(m3ae_metric_set *s, const m3ae_metric_def *defs, int n) {
    s->defs = defs, s->n = n;
    /* one block: num then den, so that one collective sums both */
    s->num = m3ae_alloc(2 * (size_t)(n > 0 ? n : 1) * sizeof(double), "metric accumulators");
    s->den = s->num + n;
    m3ae_metric_set_zero(s);
}

void m3ae_metric_set_free(m3ae_metric_set *s) {
    m3ae_free(s->num);
    s->num = s->den = NULL;
}

void m3ae_metric_set_zero(m3ae_metric_set *s) {
    for (int i = 0; i < 2 * s->n; i++) s->num[i] = 0;
}

void m3ae_metric_set_add(m3ae_metric_set *s, const m3ae_metric_set *t) {
    for (int i = 0; i < s->n; i++) s->num[i] += t->num[i], s->den[i] += t->den[i];
}

void m3ae_metric_set_count_step(m3ae_metric_set *s) {
    for (int i = 0; i < s->n; i++)
        if (s->defs[i].reduce != M3AE_METRIC_RATIO) s->den[i] += 1;
}

void m3ae_metric_set_reduce_ranks(m3ae_metric_set *s) { m3ae_dist_sum_doubles(s->num, 2 * s->n); }

void m3ae_metric_set_values(const m3ae_metric_set *s, double *v) {
    for (int i = 0; i < s->n; i++) {
        const m3ae_metric_def *d = &s->defs[i];
        double num = s->num[i];
        if (d->reduce == M3AE_METRIC_TOTAL) {
            /* summed before the division, as (mlm + mim + itm) / steps */
            num = 0;
            for (int j = 0; j < s->n; j++)
                if (s->defs[j].reduce == M3AE_METRIC_STEP_MEAN) num += s->num[j];
        }
        v[i] = d->reduce == M3AE_METRIC_RATIO ? num / fmax(1, s->den[i]) : num / s->den[i];
    }
}

/* ------------------------------------------------------------------ printing */

void m3ae_metrics_print_header(FILE *f, const m3ae_metric_def *defs, int n) {
    fprintf(f, "%-13s %5s", "step", "epoch");
    for (int i = 0; i < n; i++)
        if (defs[i].column) fprintf(f, " %7s", defs[i].column);
    fprintf(f, " %9s %7s %8s %6s %7s %7s %7s %7s\n", "lr", "gnorm", "sample/s", "MFU", "comp_ms", "comm_ms", "data_ms",
            "ETA");
    fflush(f);
}

void m3ae_metrics_print(FILE *f, const m3ae_step_metrics *m, const m3ae_metric_def *defs, int n, const double *v) {
    char step[32], eta[16];
    snprintf(step, sizeof step, "%lld/%lld", (long long)m->step, (long long)m->max_steps);
    fprintf(f, "%-13s %5llu", step, (unsigned long long)m->epoch);
    for (int i = 0; i < n; i++)
        if (defs[i].column) fprintf(f, " %7.4f", v[i]);
    fprintf(f, " %9.3e %7.3f %8.1f %5.1f%% %7.1f %7.1f %7.1f %7s\n", m->lr, m->grad_norm, m->samples_per_s,
            100.0 * m->mfu, m->compute_ms, m->comm_ms, m->data_ms, m3ae_format_duration(m->eta_s, eta, sizeof eta));
    fflush(f);
}

void m3ae_metrics_json(FILE *f, const m3ae_step_metrics *m, const m3ae_metric_def *defs, int n, const double *v) {
    fprintf(f, "{\"split\": \"train\", \"step\": %lld, \"epoch\": %llu", (long long)m->step, (unsigned long long)m->epoch);
    for (int i = 0; i < n; i++) fprintf(f, ", \"%s\": %.9g", defs[i].name, v[i]);
    fprintf(f, ", \"lr\": %.6g, \"grad_norm\": %.6g, \"samples_per_s\": %.6g, \"mfu\": %.6g, \"compute_ms\": %.4g, "
               "\"comm_ms\": %.4g, \"data_ms\": %.4g, \"step_ms\": %.4g, \"eta_s\": %.1f}\n", m->lr, m->grad_norm,
            m->samples_per_s, m->mfu, m->compute_ms, m->comm_ms, m->data_ms, m->step_ms,
            isfinite(m->eta_s) ? m->eta_s : -1.0);
    fflush(f);
}

void m3ae_metrics_print_val(FILE *f, int64_t step, const m3ae_metric_def *defs, int n, const double *v) {
    fprintf(f, "validation at step %lld:", (long long)step);
    const char *sep = " ";
    for (int i = 0; i < n; i++)
        if (!defs[i].secondary) fprintf(f, "%s%s %.4f", sep, defs[i].name, v[i]), sep = "  ";
    sep = "  (";
    for (int i = 0; i < n; i++)
        if (defs[i].secondary) fprintf(f, "%s%s %.4f", sep, defs[i].name, v[i]), sep = ", ";
    fprintf(f, "%s\n", sep[0] == ',' ? ")" : "");
    fflush(f);
}

void m3ae_metrics_json_val(FILE *f, int64_t step, const m3ae_metric_def *defs, int n, const double *v) {
    fprintf(f, "{\"split\": \"val\", \"step\": %lld", (long long)step);
    for (int i = 0; i < n; i++) fprintf(f, ", \"val_%s\": %.9g", defs[i].name, v[i]);
    fprintf(f, "}\n");
    fflush(f);
}

/* ------------------------------------------------------------------ stragglers */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void m3ae_straggler_summarise(const double *ms, int n, m3ae_straggler *s) {
    double *sorted = m3ae_alloc((size_t)(n > 0 ? n : 1) * sizeof *sorted, "the straggler summary");
    s->ranks = n, s->slowest_rank = 0;
    for (int r = 0; r < n; r++) {
        sorted[r] = ms[r];
        if (ms[r] > ms[s->slowest_rank]) s->slowest_rank = r;
    }
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_double);
    s->min_ms = n ? sorted[0] : 0, s->max_ms = n ? sorted[n - 1] : 0;
    s->median_ms = !n ? 0 : n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    m3ae_free(sorted);
}

void m3ae_metrics_print_straggler(FILE *f, const m3ae_straggler *s) {
    fprintf(f, "straggler at step %lld (last %lld steps, %d ranks): busy min %.1f / median %.1f / max %.1f ms per "
               "step, slowest rank %d (%+.0f %% over the median)\n", (long long)s->step, (long long)s->steps, s->ranks,
            s->min_ms, s->median_ms, s->max_ms, s->slowest_rank,
            s->median_ms > 0 ? 100.0 * (s->max_ms / s->median_ms - 1) : 0.0);
    fflush(f);
}

void m3ae_metrics_json_straggler(FILE *f, const m3ae_straggler *s) {
    fprintf(f, "{\"split\": \"straggler\", \"step\": %lld, \"steps\": %lld, \"ranks\": %d, \"min_ms\": %.4g, "
               "\"median_ms\": %.4g, \"max_ms\": %.4g, \"slowest_rank\": %d}\n", (long long)s->step,
            (long long)s->steps, s->ranks, s->min_ms, s->median_ms, s->max_ms, s->slowest_rank);
    fflush(f);
}
