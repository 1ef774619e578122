/* Matrix products on the CPU: a fixed-tiling parallel SGEMM over single-threaded OpenBLAS calls,
 * and the linear layer built on it (y = x W^T + b and its backward). */
#include <cblas.h>
#include <string.h>

#include "model/cpu/cpu_internal.h"

/* Below this many multiply-adds a product is one call (well under a millisecond). */
#define GEMM_SERIAL_MACS 4000000.0

void m3ae_cpu_gemm_serial(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                          const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* C = beta C (BLAS would do the same; some builds reject K = 0 with lda checks) */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
        return;
    }
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N, K,
                alpha, A, lda, B, ldb, beta, C, ldc);
}

/* The tiling of C: a function of the shape only, never of the thread count. Each row tile re-packs
 * all of op(B) and each column tile all of op(A). Rows are split unless C is much wider than tall
 * (single-thread OpenBLAS, 4 tiles vs one call: 2600x3072x768 rows 94 %, columns 87 %;
 * 512x16384x768 rows 83 %, columns 94 %). Tile counts are multiples of 4 so that 2 or 4 threads
 * share the work evenly; tiles are multiples of 16 (the kernel's unroll) and >= 128 wide. */
static void gemm_plan(int M, int N, int *by_rows, int *ts, int *nt) {
    int D, n;
    if (N >= 4 * M && N >= 512) *by_rows = 0, D = N, n = 4 * (N / 2048 > 0 ? N / 2048 : 1);
    else if (M >= 512) *by_rows = 1, D = M, n = 4 * (M / 2048 > 0 ? M / 2048 : 1);
    else if (N >= 512) *by_rows = 0, D = N, n = 4 * (N / 2048 > 0 ? N / 2048 : 1);
    else if (M >= 256) *by_rows = 1, D = M, n = 2;
    else if (N >= 256) *by_rows = 0, D = N, n = 2;
    else *by_rows = 1, D = M, n = 1;
    int t = (D + n - 1) / n;
    *ts = (t + 15) / 16 * 16;
    *nt = (D + *ts - 1) / *ts;
}

void m3ae_cpu_gemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    int by_rows, ts, nt;
    gemm_plan(M, N, &by_rows, &ts, &nt);
    if (nt <= 1 || (double)M * N * K < GEMM_SERIAL_MACS) {
        m3ae_cpu_gemm_serial(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (by_rows) { /* row block i of C = row block i of op(A) times op(B) */
#pragma omp parallel for schedule(dynamic, 1)
        for (int t = 0; t < nt; t++) {
            int i0 = t * ts, mm = M - i0 < ts ? M - i0 : ts;
            const float *At = transA ? A + i0 : A + (size_t)i0 * lda;
            m3ae_cpu_gemm_serial(transA, transB, mm, N, K, alpha, At, lda, B, ldb, beta, C + (size_t)i0 * ldc, ldc);
        }
    } else { /* column block j of C = op(A) times column block j of op(B) */
#pragma omp parallel for schedule(dynamic, 1)
        for (int t = 0; t < nt; t++) {
            int j0 = t * ts, nn = N - j0 < ts ? N - j0 : ts;
            const float *Bt = transB ? B + (size_t)j0 * ldb : B + j0;
            m3ae_cpu_gemm_serial(transA, transB, M, nn, K, alpha, A, lda, Bt, ldb, beta, C + j0, ldc);
        }
    }
}

void m3ae_cpu_linear_forward(float *y, const float *x, const float *W, const float *b, int n, int in, int out) {
    // y (n,out) = x (n,in) W(out,in)^T + b(out)
    if (n <= 0 || out <= 0) return;
    if (b) {
#pragma omp parallel for schedule(static) if ((size_t)n * out >= M3AE_CPU_PAR_MIN)
        for (int r = 0; r < n; r++) memcpy(y + (size_t)r * out, b, (size_t)out * sizeof(float));
    }
    m3ae_cpu_gemm(0, 1, n, out, in, 1.0f, x, in, W, in, b ? 1.0f : 0.0f, y, out);
}

/* Column sums of a (n,C) matrix added into s (C): fixed blocks of 64 columns, rows summed in order
 * in double, so the result does not depend on the thread count. */
static void colsum_add(float *s, const float *a, int n, int C) {
    int nb = (C + 63) / 64;
#pragma omp parallel for schedule(static) if ((size_t)n * C >= M3AE_CPU_PAR_MIN)
    for (int blk = 0; blk < nb; blk++) {
        int c0 = blk * 64, cn = C - c0 < 64 ? C - c0 : 64;
        double acc[64] = {0};
        for (int r = 0; r < n; r++) {
            const float *row = a + (size_t)r * C + c0;
            for (int c = 0; c < cn; c++) acc[c] += row[c];
        }
        for (int c = 0; c < cn; c++) s[c0 + c] += (float)acc[c];
    }
}

void m3ae_cpu_linear_backward(float *dx, float *dW, float *db, const float *dy, const float *x, const float *W,
                              int n, int in, int out, int accumulate_dx) {
    // dy (n,out), x (n,in), W (out,in) -> dx (n,in) = dy W ; dW (out,in) += dy^T x ; db (out) += sum dy
    if (n <= 0) return;
    if (dx) m3ae_cpu_gemm(0, 0, n, in, out, 1.0f, dy, out, W, in, accumulate_dx ? 1.0f : 0.0f, dx, in);
    if (dW) m3ae_cpu_gemm(1, 0, out, in, n, 1.0f, dy, out, x, in, 1.0f, dW, in);
    if (db) colsum_add(db, dy, n, out);
}
