/* The CPU backend's table (OpenBLAS + OpenMP) and its memory functions. */
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/cpu/cpu_internal.h"

void *m3ae_cpu_alloc(size_t bytes, const char *what) {
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded == 0) rounded = 64;
    void *p = NULL;
    if (posix_memalign(&p, 64, rounded) != 0 || p == NULL)
        M3AE_FATAL(M3AE_EXIT_SYSTEM, "out of memory allocating %zu bytes for %s; use a smaller batch or model",
                   bytes, what ? what : "(unnamed buffer)");
    memset(p, 0, rounded);
    return p;
}

void m3ae_cpu_free(void *p) { free(p); }

void m3ae_cpu_upload(void *dst, const void *host_src, size_t bytes) {
    if (bytes) memcpy(dst, host_src, bytes);
}

void m3ae_cpu_download(void *host_dst, const void *src, size_t bytes) {
    if (bytes) memcpy(host_dst, src, bytes);
}

void m3ae_cpu_zero(float *x, size_t n) {
    if (n) memset(x, 0, n * sizeof(float));
}

void m3ae_cpu_copy(float *dst, const float *src, size_t n) {
    if (n && dst != src) memmove(dst, src, n * sizeof(float));
}

void m3ae_cpu_add_inplace(float *y, const float *x, size_t n) { // (n) += (n)
    long long nn = (long long)n;
#pragma omp parallel for schedule(static) if (n >= M3AE_CPU_PAR_MIN)
    for (long long i = 0; i < nn; i++) y[i] += x[i];
}

void m3ae_cpu_scale(float *y, float s, size_t n) { // (n) *= s
    long long nn = (long long)n;
#pragma omp parallel for schedule(static) if (n >= M3AE_CPU_PAR_MIN)
    for (long long i = 0; i < nn; i++) y[i] *= s;
}

void m3ae_cpu_copy_rows(float *dst, int ld_dst, const float *src, int ld_src, int rows, int cols) {
    if (rows <= 0 || cols <= 0) return;
#pragma omp parallel for schedule(static) if ((size_t)rows * cols >= M3AE_CPU_PAR_MIN)
    for (int r = 0; r < rows; r++)
        memmove(dst + (size_t)r * ld_dst, src + (size_t)r * ld_src, (size_t)cols * sizeof(float));
}

static const m3ae_ops cpu_ops = {
    .name = "cpu",
    .alloc = m3ae_cpu_alloc,
    .free = m3ae_cpu_free,
    .upload = m3ae_cpu_upload,
    .download = m3ae_cpu_download,
    .zero = m3ae_cpu_zero,
    .copy = m3ae_cpu_copy,
    .add_inplace = m3ae_cpu_add_inplace,
    .scale = m3ae_cpu_scale,
    .copy_rows = m3ae_cpu_copy_rows,
    .gemm = m3ae_cpu_gemm,
    .linear_forward = m3ae_cpu_linear_forward,
    .linear_backward = m3ae_cpu_linear_backward,
    .layernorm_forward = m3ae_cpu_layernorm_forward,
    .layernorm_backward = m3ae_cpu_layernorm_backward,
    .gelu_forward = m3ae_cpu_gelu_forward,
    .gelu_backward = m3ae_cpu_gelu_backward,
    .quickgelu_forward = m3ae_cpu_quickgelu_forward,
    .quickgelu_backward = m3ae_cpu_quickgelu_backward,
    .tanh_forward = m3ae_cpu_tanh_forward,
    .tanh_backward = m3ae_cpu_tanh_backward,
    .dropout_forward = m3ae_cpu_dropout_forward,
    .dropout_backward = m3ae_cpu_dropout_backward,
    .attention_forward = m3ae_cpu_attention_forward,
    .attention_backward = m3ae_cpu_attention_backward,
    .embedding_forward = m3ae_cpu_embedding_forward,
    .embedding_backward = m3ae_cpu_embedding_backward,
    .gather_rows = m3ae_cpu_gather_rows,
    .gather_rows_backward = m3ae_cpu_gather_rows_backward,
    .patchify = m3ae_cpu_patchify,
    .cross_entropy = m3ae_cpu_cross_entropy,
    .patch_normalize = m3ae_cpu_patch_normalize,
    .mim_loss = m3ae_cpu_mim_loss,
};

const m3ae_ops *m3ae_ops_cpu(int threads) {
    /* OpenBLAS always runs single-threaded: the backend parallelises with OpenMP over work items
     * fixed by the shapes (GEMM tiles, attention heads), which keeps results identical for any
     * thread count and avoids OpenBLAS's own threads competing with OpenMP's. */
    openblas_set_num_threads(1);
    if (threads > 0) omp_set_num_threads(threads);
    return &cpu_ops;
}
