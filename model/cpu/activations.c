/* Elementwise activations: GELU (erf form, BERT/RoBERTa), QuickGELU (CLIP), tanh (poolers).
 * Each op is a chunk kernel (vectorised, compiled per SIMD level) run over fixed chunks in parallel. */
#include <math.h>

#include "model/cpu/cpu_internal.h"

#define SQRT1_2 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f
#define ACT_CHUNK 8192

/* Runs kernel(out + off, a + off, b + off, len) over chunks of n; b may be NULL */
typedef void (*chunk_fn)(float *out, const float *a, const float *b, size_t n);
static void run_chunks(chunk_fn kernel, float *out, const float *a, const float *b, size_t n) {
    long long nch = (long long)((n + ACT_CHUNK - 1) / ACT_CHUNK);
#pragma omp parallel for schedule(static) if (n >= M3AE_CPU_PAR_MIN)
    for (long long t = 0; t < nch; t++) {
        size_t off = (size_t)t * ACT_CHUNK, len = n - off < ACT_CHUNK ? n - off : ACT_CHUNK;
        kernel(out + off, a + off, b ? b + off : NULL, len);
    }
}

M3AE_CPU_SIMD_CLONES static void gelu_fwd_k(float *y, const float *x, const float *unused, size_t n) {
    (void)unused; // y = 0.5 x (1 + erf(x / sqrt 2))
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + m3ae_cpu_erff(v * SQRT1_2));
    }
}

M3AE_CPU_SIMD_CLONES static void gelu_bwd_k(float *dx, const float *dy, const float *x, size_t n) {
    // dx = dy * (0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2 / 2) / sqrt(2 pi))
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float cdf = 0.5f * (1.0f + m3ae_cpu_erff(v * SQRT1_2));
        float pdf = INV_SQRT_2PI * m3ae_cpu_expf(-0.5f * v * v);
        dx[i] = dy[i] * (cdf + v * pdf);
    }
}

M3AE_CPU_SIMD_CLONES static void quickgelu_fwd_k(float *y, const float *x, const float *unused, size_t n) {
    (void)unused; // y = x sigmoid(1.702 x)
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = v / (1.0f + m3ae_cpu_expf(-1.702f * v));
    }
}

M3AE_CPU_SIMD_CLONES static void quickgelu_bwd_k(float *dx, const float *dy, const float *x, size_t n) {
    // s = sigmoid(1.702 x); dx = dy (s + 1.702 x s (1 - s))
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float s = 1.0f / (1.0f + m3ae_cpu_expf(-1.702f * v));
        dx[i] = dy[i] * (s + 1.702f * v * s * (1.0f - s));
    }
}

static void tanh_fwd_k(float *y, const float *x, const float *unused, size_t n) {
    (void)unused;
    for (size_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
}

static void tanh_bwd_k(float *dx, const float *dy, const float *y, size_t n) { // dx = dy (1 - y^2)
    for (size_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

/* (n) -> (n); y may alias x, dx may alias dy */
void m3ae_cpu_gelu_forward(float *y, const float *x, size_t n) { run_chunks(gelu_fwd_k, y, x, NULL, n); }
void m3ae_cpu_gelu_backward(float *dx, const float *dy, const float *x, size_t n) {
    run_chunks(gelu_bwd_k, dx, dy, x, n);
}
void m3ae_cpu_quickgelu_forward(float *y, const float *x, size_t n) { run_chunks(quickgelu_fwd_k, y, x, NULL, n); }
void m3ae_cpu_quickgelu_backward(float *dx, const float *dy, const float *x, size_t n) {
    run_chunks(quickgelu_bwd_k, dx, dy, x, n);
}
void m3ae_cpu_tanh_forward(float *y, const float *x, size_t n) { run_chunks(tanh_fwd_k, y, x, NULL, n); }
void m3ae_cpu_tanh_backward(float *dx, const float *dy, const float *y, size_t n) {
    run_chunks(tanh_bwd_k, dx, dy, y, n);
}
