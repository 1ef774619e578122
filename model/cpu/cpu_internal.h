/* Internals shared by the CPU backend's files (model/cpu/): the functions behind the m3ae_ops table,
 * the fixed-tiling GEMM, the dropout mask generator and a vectorisable exp. Not for layer code:
 * layers call the m3ae_ops table (model/ops.h) only. */
#ifndef M3AE_MODEL_CPU_INTERNAL_H
#define M3AE_MODEL_CPU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/rng.h"
#include "model/ops.h"

/* Element counts below which elementwise loops stay on one thread (OpenMP start-up costs more). */
#define M3AE_CPU_PAR_MIN 32768

/* ---- memory (ops_cpu.c) ---- */
void *m3ae_cpu_alloc(size_t bytes, const char *what);
void m3ae_cpu_free(void *p);
void m3ae_cpu_upload(void *dst, const void *host_src, size_t bytes);
void m3ae_cpu_download(void *host_dst, const void *src, size_t bytes);
void m3ae_cpu_zero(float *x, size_t n);
void m3ae_cpu_copy(float *dst, const float *src, size_t n);
void m3ae_cpu_add_inplace(float *y, const float *x, size_t n);
void m3ae_cpu_scale(float *y, float s, size_t n);
void m3ae_cpu_copy_rows(float *dst, int ld_dst, const float *src, int ld_src, int rows, int cols);

/* ---- matrix products (gemm.c) ---- */
/* Row-major C = alpha op(A) op(B) + beta C, parallelised over a tiling of C that depends on the
 * shape only (never on the thread count), each tile a single-threaded OpenBLAS call: the same
 * bits for any number of threads. */
void m3ae_cpu_gemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc);
/* One single-threaded OpenBLAS call (for use inside parallel regions). */
void m3ae_cpu_gemm_serial(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                          const float *B, int ldb, float beta, float *C, int ldc);
void m3ae_cpu_linear_forward(float *y, const float *x, const float *W, const float *b, int n, int in, int out);
void m3ae_cpu_linear_backward(float *dx, float *dW, float *db, const float *dy, const float *x, const float *W,
                              int n, int in, int out, int accumulate_dx);

/* ---- normalisation (norm.c) ---- */
void m3ae_cpu_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *g,
                                const float *b, int n, int C, float eps);
void m3ae_cpu_layernorm_backward(float *dx, float *dg, float *db, const float *dy, const float *x,
                                 const float *mean, const float *rstd, const float *g, int n, int C,
                                 int accumulate_dx);
void m3ae_cpu_patch_normalize(float *t, int n, int D, float eps);

/* ---- activations (activations.c) ---- */
void m3ae_cpu_gelu_forward(float *y, const float *x, size_t n);
void m3ae_cpu_gelu_backward(float *dx, const float *dy, const float *x, size_t n);
void m3ae_cpu_quickgelu_forward(float *y, const float *x, size_t n);
void m3ae_cpu_quickgelu_backward(float *dx, const float *dy, const float *x, size_t n);
void m3ae_cpu_tanh_forward(float *y, const float *x, size_t n);
void m3ae_cpu_tanh_backward(float *dx, const float *dy, const float *y, size_t n);

/* ---- dropout (dropout.c) ---- */
/* 1 when d describes an active dropout (non-NULL, p > 0). Fatal when p is outside [0, 1). */
int m3ae_cpu_dropout_active(const m3ae_dropout *d);
/* The stream of batch row b: m3ae_rng_make(seed, M3AE_RNG_DROPOUT + site, step, sample_ids[b]). */
m3ae_rng m3ae_cpu_dropout_rng(const m3ae_dropout *d, int b);
/* m[j] = (m3ae_rng_uniform(r, start + j) >= p) ? 1/(1-p) : 0 for j in [0, n) (bit-identical to
 * m3ae_rng_uniform, computed four words per Philox call). */
void m3ae_cpu_dropout_mask(float *m, const m3ae_rng *r, uint64_t start, size_t n, float p);
void m3ae_cpu_dropout_forward(float *y, const float *x, int B, size_t per_row, const m3ae_dropout *d);
void m3ae_cpu_dropout_backward(float *dx, const float *dy, int B, size_t per_row, const m3ae_dropout *d);

/* ---- attention (attention.c) ---- */
void m3ae_cpu_attention_forward(float *out, int ldo, float *probs, const float *q, int ldq, const float *k,
                                int ldk, const float *v, int ldv, const float *key_mask, int B, int Tq, int Tk,
                                int H, int hd, float scale, const m3ae_dropout *d);
void m3ae_cpu_attention_backward(float *dq, float *dk, float *dv, float *scratch, const float *dout, int ldo,
                                 const float *probs, const float *q, int ldq, const float *k, int ldk,
                                 const float *v, int ldv, int B, int Tq, int Tk, int H, int hd, float scale,
                                 const m3ae_dropout *d);

/* ---- gathers (gather.c) ---- */
void m3ae_cpu_embedding_forward(float *y, const int32_t *ids, const float *table, int n, int C);
void m3ae_cpu_embedding_backward(float *dtable, const float *dy, const int32_t *ids, int n, int C, int padding_idx);
void m3ae_cpu_gather_rows(float *y, const float *x, const int32_t *idx, int B, int Tin, int Tout, int C);
void m3ae_cpu_gather_rows_backward(float *dx, const float *dy, const int32_t *idx, int B, int Tin, int Tout,
                                   int C);
void m3ae_cpu_patchify(float *patches, const float *img, int B, int H, int W, int P, int channel_last);

/* ---- losses (losses.c) ---- */
double m3ae_cpu_cross_entropy(float *dlogits, const float *logits, const int32_t *labels, int n, int V,
                              int ignore_index, float grad_scale, int *count, int *correct);
double m3ae_cpu_mim_loss(float *dpred, const float *pred, const float *target, const float *mask, int n, int D,
                         float grad_scale);

/* Hot elementwise kernels are compiled for AVX-512, AVX2 and baseline x86-64 and picked at load
 * time (GCC function multi-versioning). The kernels use no fused multiply-add (-std=c17 implies
 * -ffp-contract=off) and fixed reduction orders, so every version gives the same bits. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define M3AE_CPU_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define M3AE_CPU_SIMD_CLONES
#endif

/* min(max(x, lo), hi) with bit selects: a float ?: stops GCC's if-conversion (trapping math) and
 * with it the vectorisation of every loop that calls this. NaN stays NaN. */
static inline float m3ae_cpu_clampf(float x, float lo, float hi) {
    union {
        float f;
        uint32_t u;
    } xv = {x}, h = {hi}, l = {lo};
    uint32_t mh = -(uint32_t)(x > hi), ml = -(uint32_t)(x < lo);
    xv.u = (xv.u & ~mh) | (h.u & mh);
    xv.u = (xv.u & ~ml) | (l.u & ml);
    return xv.f;
}

/* a > b ? a : b, as a bit select (vectorises, see above) */
static inline float m3ae_cpu_maxf(float a, float b) {
    union {
        float f;
        uint32_t u;
    } av = {a}, bv = {b};
    uint32_t m = -(uint32_t)(a > b);
    av.u = (av.u & m) | (bv.u & ~m);
    return av.f;
}

/* exp(x) in float, about 1 ulp (Cephes polynomial, range reduction by ln 2), branch-free so that
 * loops over it vectorise. Inputs below -87 give about 1e-38 instead of 0 (harmless in softmax). */
static inline float m3ae_cpu_expf(float x) {
    x = m3ae_cpu_clampf(x, -87.0f, 88.3762626647949f);
    /* n = round(x / ln 2) by the 1.5 * 2^23 trick (exact for |x/ln2| < 2^22) */
    float fn = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    float r2 = r * r;
    float p = 1.9875691500E-4f;
    p = p * r + 1.3981999507E-3f;
    p = p * r + 8.3334519073E-3f;
    p = p * r + 4.1665795894E-2f;
    p = p * r + 1.6666665459E-1f;
    p = p * r + 5.0000001201E-1f;
    p = p * r2 + r + 1.0f;
    /* scale by 2^n: n in [-126, 128]; split in two factors so that both exponents are normal */
    int n = (int)fn;
    int half = n >> 1;
    union {
        uint32_t u;
        float f;
    } s1, s2;
    s1.u = (uint32_t)(half + 127) << 23;
    s2.u = (uint32_t)(n - half + 127) << 23;
    return p * s1.f * s2.f;
}

/* erf(x) in float, max abs error about 5e-7 (rational approximation on [-4, 4], the one used by
 * Eigen/XLA; |erf| rounds to 1 beyond), branch-free so that loops over it vectorise; glibc's erff
 * is about 9x slower and does not vectorise. */
static inline float m3ae_cpu_erff(float x) {
    x = m3ae_cpu_clampf(x, -4.0f, 4.0f);
    float x2 = x * x;
    float p = x2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
    p = x2 * p + -2.10102402082508e-06f;
    p = x2 * p + -5.69250639462346e-05f;
    p = x2 * p + -7.34990630326855e-04f;
    p = x2 * p + -2.95459980854025e-03f;
    p = x2 * p + -1.60960333262415e-02f;
    p = x * p;
    float q = x2 * -1.45660718464996e-05f + -2.13374055278905e-04f;
    q = x2 * q + -1.68282697438203e-03f;
    q = x2 * q + -7.37332916720468e-03f;
    q = x2 * q + -1.42647390514189e-02f;
    return p / q;
}

#endif
