/* The plumbing every `m3ae bench` shares (launch/bench.h): the option loop and the median. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "launch/bench.h"

int m3ae_bench_next(m3ae_bench_args *a) {
    a->code = -1;
    if (a->i == 0) a->i = 1;
    else a->i++;
    if (a->i >= a->argc) return 0;
    a->opt = a->argv[a->i];
    if (!strcmp(a->opt, "-h") || !strcmp(a->opt, "--help")) {
        a->usage(stdout);
        a->code = M3AE_EXIT_OK;
        return -1;
    }
    if (a->i + 1 >= a->argc) {
        fprintf(stderr, "m3ae: error: bench %s: option '%s' needs a value\n", a->bench, a->opt);
        a->usage(stderr);
        a->code = M3AE_EXIT_USAGE;
        return -1;
    }
    a->val = a->argv[++a->i];
    char *end = NULL;
    a->num = strtol(a->val, &end, 10);
    a->numeric = end && *end == '\0' && end != a->val;
    return 1;
}

int m3ae_bench_bad(const m3ae_bench_args *a, const char *ranges) {
    fprintf(stderr, "m3ae: error: bench %s: bad option or value '%s %s' %s\n", a->bench, a->opt, a->val, ranges);
    a->usage(stderr);
    return M3AE_EXIT_USAGE;
}

static int cmp_double(const void *x, const void *y) {
    double p = *(const double *)x, q = *(const double *)y;
    return (p > q) - (p < q);
}

double m3ae_bench_median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}
