/* The CPU backend (OpenBLAS + OpenMP): its memory functions, the backend-first entry table over the
 * kernels of model/cpu/, and its open. Memory is host memory, every entry is synchronous (so events
 * are complete when recorded), and the OpenMP thread count is the only state. */
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/cpu/cpu_internal.h"

void *m3ae_cpu_alloc(size_t bytes, const char *what) {
    /* 64-byte aligned, zeroed */
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

/* ---- the entry table: the backend first, then the kernel ---- */

struct m3ae_event {
    int recorded; /* CPU work is synchronous: recorded means complete */
};

static void *be_alloc(m3ae_backend *be, size_t bytes, const char *what) {
    be->n_allocs++;
    return m3ae_cpu_alloc(bytes, what);
}
static void be_free(m3ae_backend *be, void *p) { (void)be, m3ae_cpu_free(p); }
static int be_is_host(const m3ae_backend *be) { return (void)be, 1; }
static void be_upload(m3ae_backend *be, void *dst, const void *src, size_t bytes) {
    (void)be, m3ae_cpu_upload(dst, src, bytes);
}
static void be_download(m3ae_backend *be, void *dst, const void *src, size_t bytes) {
    (void)be, m3ae_cpu_download(dst, src, bytes);
}
static void be_sync(m3ae_backend *be) { (void)be; }
static m3ae_event *be_event_create(m3ae_backend *be) {
    m3ae_event *ev = calloc(1, sizeof *ev);
    M3AE_CHECK(ev != NULL, M3AE_EXIT_SYSTEM, "out of memory for a backend event");
    be->n_allocs++;
    return ev;
}
static void be_event_record(m3ae_backend *be, m3ae_event *ev) { (void)be, ev->recorded = 1; }
static void be_event_wait(m3ae_backend *be, m3ae_event *ev) {
    (void)be;
    M3AE_CHECK(ev->recorded, M3AE_EXIT_FAIL, "event_wait on an event that was never recorded");
}
static void be_event_destroy(m3ae_backend *be, m3ae_event *ev) { (void)be, free(ev); }

static size_t be_workspace_bytes(const m3ae_backend *be, m3ae_ws_kind kind, const int64_t s[5]) {
    (void)be;
    switch (kind) {
    case M3AE_WS_ATTENTION_FORWARD:
    case M3AE_WS_ATTENTION_BACKWARD: return m3ae_cpu_attention_workspace(s[2], s[3], s[4] != 0);
    case M3AE_WS_LAYERNORM_BACKWARD: return m3ae_cpu_layernorm_workspace(s[0], s[1]);
    case M3AE_WS_CROSS_ENTROPY: return m3ae_cpu_cross_entropy_workspace(s[0]);
    case M3AE_WS_MIM_LOSS: return m3ae_cpu_mim_loss_workspace(s[0]);
    case M3AE_WS_KINDS: break;
    }
    M3AE_FATAL(M3AE_EXIT_FAIL, "workspace_bytes: unknown entry kind %d", (int)kind);
}

static void be_zero(m3ae_backend *be, float *x, size_t n) { (void)be, m3ae_cpu_zero(x, n); }
static void be_copy(m3ae_backend *be, float *d, const float *s, size_t n) { (void)be, m3ae_cpu_copy(d, s, n); }
static void be_add_inplace(m3ae_backend *be, float *y, const float *x, size_t n) {
    (void)be, m3ae_cpu_add_inplace(y, x, n);
}
static void be_scale(m3ae_backend *be, float *y, float s, size_t n) { (void)be, m3ae_cpu_scale(y, s, n); }
static void be_copy_rows(m3ae_backend *be, float *dst, int ldd, const float *src, int lds, int rows, int cols) {
    (void)be, m3ae_cpu_copy_rows(dst, ldd, src, lds, rows, cols);
}
static void be_gemm(m3ae_backend *be, int tA, int tB, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc) {
    (void)be, m3ae_cpu_gemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
static void be_linear_forward(m3ae_backend *be, float *y, const float *x, const float *W, const float *b, int n,
                              int in, int out) {
    (void)be, m3ae_cpu_linear_forward(y, x, W, b, n, in, out);
}
static void be_linear_backward(m3ae_backend *be, float *dx, float *dW, float *db, const float *dy, const float *x,
                               const float *W, int n, int in, int out, int acc) {
    (void)be, m3ae_cpu_linear_backward(dx, dW, db, dy, x, W, n, in, out, acc);
}
static void be_layernorm_forward(m3ae_backend *be, float *y, float *mean, float *rstd, const float *x,
                                 const float *g, const float *b, int n, int C, float eps) {
    (void)be, m3ae_cpu_layernorm_forward(y, mean, rstd, x, g, b, n, C, eps);
}
static void be_gelu_forward(m3ae_backend *be, float *y, const float *x, size_t n) {
    (void)be, m3ae_cpu_gelu_forward(y, x, n);
}
static void be_gelu_backward(m3ae_backend *be, float *dx, const float *dy, const float *x, size_t n) {
    (void)be, m3ae_cpu_gelu_backward(dx, dy, x, n);
}
static void be_quickgelu_forward(m3ae_backend *be, float *y, const float *x, size_t n) {
    (void)be, m3ae_cpu_quickgelu_forward(y, x, n);
}
static void be_quickgelu_backward(m3ae_backend *be, float *dx, const float *dy, const float *x, size_t n) {
    (void)be, m3ae_cpu_quickgelu_backward(dx, dy, x, n);
}
static void be_tanh_forward(m3ae_backend *be, float *y, const float *x, size_t n) {
    (void)be, m3ae_cpu_tanh_forward(y, x, n);
}
static void be_tanh_backward(m3ae_backend *be, float *dx, const float *dy, const float *y, size_t n) {
    (void)be, m3ae_cpu_tanh_backward(dx, dy, y, n);
}
static void be_dropout_forward(m3ae_backend *be, float *y, const float *x, int B, size_t per_row,
                               const m3ae_dropout *d) {
    (void)be, m3ae_cpu_dropout_forward(y, x, B, per_row, d);
}
static void be_dropout_backward(m3ae_backend *be, float *dx, const float *dy, int B, size_t per_row,
                                const m3ae_dropout *d) {
    (void)be, m3ae_cpu_dropout_backward(dx, dy, B, per_row, d);
}
static void be_embedding_forward(m3ae_backend *be, float *y, const int32_t *ids, const float *table, int n, int C) {
    (void)be, m3ae_cpu_embedding_forward(y, ids, table, n, C);
}
static void be_embedding_backward(m3ae_backend *be, float *dt, const float *dy, const int32_t *ids, int n, int C,
                                  int padding_idx) {
    (void)be, m3ae_cpu_embedding_backward(dt, dy, ids, n, C, padding_idx);
}
static void be_gather_rows(m3ae_backend *be, float *y, const float *x, const int32_t *idx, int B, int Tin, int Tout,
                           int C) {
    (void)be, m3ae_cpu_gather_rows(y, x, idx, B, Tin, Tout, C);
}
static void be_gather_rows_backward(m3ae_backend *be, float *dx, const float *dy, const int32_t *idx, int B, int Tin,
                                    int Tout, int C) {
    (void)be, m3ae_cpu_gather_rows_backward(dx, dy, idx, B, Tin, Tout, C);
}
static void be_patchify(m3ae_backend *be, float *p, const float *img, int B, int H, int W, int P, int cl) {
    (void)be, m3ae_cpu_patchify(p, img, B, H, W, P, cl);
}
static void be_patch_normalize(m3ae_backend *be, float *t, int n, int D, float eps) {
    (void)be, m3ae_cpu_patch_normalize(t, n, D, eps);
}
static void be_adamw(m3ae_backend *be, float *p, const float *g, float *m, float *v, size_t n,
                     const m3ae_adamw_args *a) {
    (void)be, m3ae_cpu_adamw(p, g, m, v, n, a);
}
static double be_sq_norm(m3ae_backend *be, const float *x, size_t n) { return (void)be, m3ae_cpu_sq_norm(x, n); }

static const m3ae_backend_ops cpu_ops = {
    .release = NULL, /* no private context */
    .alloc = be_alloc,
    .free = be_free,
    .is_host = be_is_host,
    .upload = be_upload,
    .download = be_download,
    .sync = be_sync,
    .event_create = be_event_create,
    .event_record = be_event_record,
    .event_wait = be_event_wait,
    .event_destroy = be_event_destroy,
    .workspace_bytes = be_workspace_bytes,
    .zero = be_zero,
    .copy = be_copy,
    .add_inplace = be_add_inplace,
    .scale = be_scale,
    .copy_rows = be_copy_rows,
    .gemm = be_gemm,
    .linear_forward = be_linear_forward,
    .linear_backward = be_linear_backward,
    .layernorm_forward = be_layernorm_forward,
    .layernorm_backward = m3ae_cpu_layernorm_backward,
    .gelu_forward = be_gelu_forward,
    .gelu_backward = be_gelu_backward,
    .quickgelu_forward = be_quickgelu_forward,
    .quickgelu_backward = be_quickgelu_backward,
    .tanh_forward = be_tanh_forward,
    .tanh_backward = be_tanh_backward,
    .dropout_forward = be_dropout_forward,
    .dropout_backward = be_dropout_backward,
    .attention_forward = m3ae_cpu_attention_forward,
    .attention_backward = m3ae_cpu_attention_backward,
    .embedding_forward = be_embedding_forward,
    .embedding_backward = be_embedding_backward,
    .gather_rows = be_gather_rows,
    .gather_rows_backward = be_gather_rows_backward,
    .patchify = be_patchify,
    .cross_entropy = m3ae_cpu_cross_entropy,
    .patch_normalize = be_patch_normalize,
    .mim_loss = m3ae_cpu_mim_loss,
    .adamw = be_adamw,
    .sq_norm = be_sq_norm,
};

m3ae_backend *m3ae_cpu_backend_open(const m3ae_backend_options *opt, m3ae_error *err) {
    m3ae_backend_options o = opt ? *opt : (m3ae_backend_options){0};
    if (o.act_dtype != M3AE_DTYPE_F32) {
        m3ae_error_set(err, "the cpu backend computes activations in f32 only; %s activations need the cuda backend "
                            "(use the default activation dtype on the cpu)", m3ae_dtype_name(o.act_dtype));
        return NULL;
    }
    m3ae_backend *be = calloc(1, sizeof *be);
    if (!be) {
        m3ae_error_set(err, "out of memory opening the cpu backend");
        return NULL;
    }
    /* OpenBLAS always runs single-threaded: the backend parallelises with OpenMP over work items
     * fixed by the shapes (GEMM tiles, attention heads), which keeps results identical for any
     * thread count and avoids OpenBLAS's own threads competing with OpenMP's. */
    openblas_set_num_threads(1);
    if (o.threads > 0) omp_set_num_threads(o.threads);
    be->name = "cpu";
    be->ops = &cpu_ops;
    be->ctx = NULL;
    be->act_dtype = M3AE_DTYPE_F32;
    be->device = 0;
    return be;
}

int m3ae_backend_set_threads(m3ae_backend *be, int threads) {
    if (!be || strcmp(be->name, "cpu") != 0 || threads <= 0) return -1;
    omp_set_num_threads(threads);
    return 0;
}
