/* Helpers shared by the model_ops tests: deterministic random tensors, error measures and a
 * gradient checker that compares a float backward with central differences of
 *  (a) the float forward (loose tolerance: float rounding / step size), and
 *  (b) a double-precision reference forward written in the test (tight tolerance).
 * Objectives are scalar L(x) = sum_i w_i y_i(x) with fixed random weights w, so dL/dy = w. */
#ifndef M3AE_TESTS_MODEL_OPS_UTIL_H
#define M3AE_TESTS_MODEL_OPS_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "harness.h"
#include "model/backend.h"

/* The CPU backend for the op tests, opened on first use with a workspace large enough for every
 * shape these tests use (64 MiB); later calls set the OpenMP thread count. */
static inline void t_set_threads(m3ae_backend **be, int threads) {
    if (!*be) {
        m3ae_error err;
        m3ae_backend_options o = {.threads = threads};
        *be = m3ae_backend_open("cpu", &o, &err);
        if (!*be) {
            fprintf(stderr, "cannot open the cpu backend: %s\n", err.msg);
            exit(1);
        }
        m3ae_backend_reserve_workspace(*be, (size_t)64 << 20);
        return;
    }
    m3ae_backend_set_threads(*be, threads);
}

static inline float *t_randn(size_t n, uint64_t seed, float scale) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    m3ae_rng r = m3ae_rng_make(seed, 999, 0, 0);
    for (size_t i = 0; i < n; i++) p[i] = scale * m3ae_rng_normal(&r, i);
    return p;
}

static inline double *t_to_double(const float *x, size_t n) {
    double *d = malloc((n ? n : 1) * sizeof(double));
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

/* max |a - b| / max |b| (b: the reference), 0 when both are zero */
static inline double t_rel_err(const float *a, const double *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (e > num || isnan(e)) num = isnan(e) ? INFINITY : e;
        if (fabs(b[i]) > den) den = fabs(b[i]);
    }
    if (den == 0) return num;
    return num / den;
}

static inline double t_rel_err_ff(const float *a, const float *b, size_t n) {
    double *bd = t_to_double(b, n);
    double e = t_rel_err(a, bd, n);
    free(bd);
    return e;
}

typedef double (*t_obj_float)(void *ctx, const float *x);  /* L computed with the ops under test */
typedef double (*t_obj_double)(void *ctx, const double *x); /* L computed by the double reference */

/* Checks grad (n) = dL/dx at x against central differences; either objective may be NULL.
 * Every element is perturbed (keep n small). */
static inline void t_grad_check(const char *what, float *x, size_t n, const float *grad, t_obj_float objf,
                                t_obj_double objd, void *ctx) {
    double gmax = 0;
    for (size_t i = 0; i < n; i++) gmax = fmax(gmax, fabs(grad[i]));
    if (objf) {
        const float h = 1e-2f;
        double err = 0;
        for (size_t i = 0; i < n; i++) {
            float x0 = x[i];
            x[i] = x0 + h;
            double lp = objf(ctx, x);
            x[i] = x0 - h;
            double lm = objf(ctx, x);
            x[i] = x0;
            double fd = (lp - lm) / (2.0 * (double)h);
            err = fmax(err, fabs(fd - grad[i]));
        }
        double rel = err / fmax(gmax, 1e-6);
        T_CHECK(rel < 2e-2, "%s: float finite differences differ from backward: max err %.3g (rel %.3g)", what, err,
                rel);
    }
    if (objd) {
        double *xd = t_to_double(x, n);
        const double h = 1e-5;
        double err = 0;
        for (size_t i = 0; i < n; i++) {
            double x0 = xd[i];
            xd[i] = x0 + h;
            double lp = objd(ctx, xd);
            xd[i] = x0 - h;
            double lm = objd(ctx, xd);
            xd[i] = x0;
            double fd = (lp - lm) / (2.0 * h);
            err = fmax(err, fabs(fd - grad[i]));
        }
        double rel = err / fmax(gmax, 1e-6);
        T_CHECK(rel < 1e-4, "%s: double-reference finite differences differ from backward: max err %.3g (rel %.3g)",
                what, err, rel);
        free(xd);
    }
    T_CHECK(gmax > 0, "%s: gradient is identically zero (test would be vacuous)", what);
}

#endif
