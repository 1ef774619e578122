/* Layer normalisation (forward, backward) and the MIM per-patch target normalisation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/cpu/cpu_internal.h"

/* Layer-norm parameter gradients are summed per block of rows (in double), then over blocks in
 * order: the blocks depend on n only (at least 32 rows, at most 64 blocks, so the partial-sum
 * buffer stays under 64 * 2 * C doubles), so dg and db are the same for any thread count. */
static int ln_rows_per_block(int n) {
    int r = (n + 63) / 64;
    return r < 32 ? 32 : r;
}

/* sum of a row in double over 8 interleaved lanes (a fixed order that vectorises) */
static inline double row_sum(const float *x, int C) {
    double l8[8] = {0};
    int c8 = C & ~7;
    for (int c = 0; c < c8; c += 8)
        for (int l = 0; l < 8; l++) l8[l] += x[c + l];
    double s = 0.0;
    for (int l = 0; l < 8; l++) s += l8[l];
    for (int c = c8; c < C; c++) s += x[c];
    return s;
}

/* sum of (x - m)^2 in double, same lane order */
static inline double row_sqdev(const float *x, int C, double m) {
    double l8[8] = {0};
    int c8 = C & ~7;
    for (int c = 0; c < c8; c += 8)
        for (int l = 0; l < 8; l++) {
            double d = x[c + l] - m;
            l8[l] += d * d;
        }
    double s = 0.0;
    for (int l = 0; l < 8; l++) s += l8[l];
    for (int c = c8; c < C; c++) s += (x[c] - m) * (x[c] - m);
    return s;
}

M3AE_CPU_SIMD_CLONES static void ln_forward_row(float *yr, float *mean, float *rstd, const float *xr, const float *g,
                                                const float *b, int C, float eps) {
    double m = row_sum(xr, C) / C;
    double v = row_sqdev(xr, C, m) / C;
    float mf = (float)m, rs = (float)(1.0 / sqrt(v + (double)eps));
    if (mean) *mean = mf;
    if (rstd) *rstd = rs;
    for (int c = 0; c < C; c++) yr[c] = (xr[c] - mf) * rs * g[c] + b[c];
}

void m3ae_cpu_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *g,
                                const float *b, int n, int C, float eps) {
    // x (n,C), g (C), b (C) -> y (n,C), mean (n), rstd (n)
#pragma omp parallel for schedule(static) if ((size_t)n * C >= M3AE_CPU_PAR_MIN)
    for (int r = 0; r < n; r++)
        ln_forward_row(y + (size_t)r * C, mean ? mean + r : NULL, rstd ? rstd + r : NULL, x + (size_t)r * C, g, b, C,
                       eps);
}

/* One block of rows: partial dg (pg) and db (pb) in double when pg != NULL, and dx when dx != NULL. */
M3AE_CPU_SIMD_CLONES static void ln_backward_rows(float *dx, double *pg, double *pb, const float *dy, const float *x,
                                                  const float *mean, const float *rstd, const float *g, int r0,
                                                  int r1, int C, int accumulate_dx) {
    for (int r = r0; r < r1; r++) {
        const float *xr = x + (size_t)r * C, *dyr = dy + (size_t)r * C;
        const float m = mean[r], rs = rstd[r];
        if (pg) {
            for (int c = 0; c < C; c++) {
                float xh = (xr[c] - m) * rs;
                pg[c] += (double)(dyr[c] * xh);
                pb[c] += (double)dyr[c];
            }
        }
        if (!dx) continue;
        /* dx = rstd * (dxh - mean(dxh) - xh * mean(dxh * xh)), dxh = dy * g */
        double l1[8] = {0}, l2[8] = {0};
        int c8 = C & ~7;
        for (int c = 0; c < c8; c += 8)
            for (int l = 0; l < 8; l++) {
                float xh = (xr[c + l] - m) * rs, dxh = dyr[c + l] * g[c + l];
                l1[l] += (double)dxh;
                l2[l] += (double)(dxh * xh);
            }
        double s1 = 0.0, s2 = 0.0;
        for (int l = 0; l < 8; l++) s1 += l1[l], s2 += l2[l];
        for (int c = c8; c < C; c++) {
            float xh = (xr[c] - m) * rs, dxh = dyr[c] * g[c];
            s1 += (double)dxh;
            s2 += (double)(dxh * xh);
        }
        const float a = (float)(s1 / C), bb = (float)(s2 / C);
        float *dxr = dx + (size_t)r * C;
        if (accumulate_dx) {
            for (int c = 0; c < C; c++) {
                float xh = (xr[c] - m) * rs;
                dxr[c] += rs * (dyr[c] * g[c] - a - xh * bb);
            }
        } else {
            for (int c = 0; c < C; c++) {
                float xh = (xr[c] - m) * rs;
                dxr[c] = rs * (dyr[c] * g[c] - a - xh * bb);
            }
        }
    }
}

size_t m3ae_cpu_layernorm_workspace(int64_t n, int64_t C) {
    if (n <= 0 || C <= 0) return 0;
    const int64_t rpb = ln_rows_per_block((int)n), nblk = (n + rpb - 1) / rpb;
    return (size_t)nblk * 2 * (size_t)C * sizeof(double);
}

void m3ae_cpu_layernorm_backward(m3ae_backend *be, float *dx, float *dg, float *db, const float *dy, const float *x,
                                 const float *mean, const float *rstd, const float *g, int n, int C,
                                 int accumulate_dx) {
    // dy (n,C), x (n,C), mean/rstd (n), g (C) -> dx (n,C) (= or +=), dg (C) +=, db (C) +=
    if (n <= 0 || C <= 0) return;
    const int rpb = ln_rows_per_block(n), nblk = (n + rpb - 1) / rpb;
    /* per block: partial dg (C) then partial db (C), in double, summed in block order below */
    double *part = NULL;
    if (dg || db) {
        const size_t bytes = (size_t)nblk * 2 * C * sizeof(double);
        part = m3ae_backend_workspace(be, bytes, "layernorm_backward (partial sums)");
        memset(part, 0, bytes);
    }
#pragma omp parallel for schedule(static) if ((size_t)n * C >= M3AE_CPU_PAR_MIN)
    for (int blk = 0; blk < nblk; blk++) {
        int r0 = blk * rpb, r1 = r0 + rpb < n ? r0 + rpb : n;
        double *pg = part ? part + (size_t)blk * 2 * C : NULL;
        ln_backward_rows(dx, pg, pg ? pg + C : NULL, dy, x, mean, rstd, g, r0, r1, C, accumulate_dx);
    }
    if (part) {
#pragma omp parallel for schedule(static) if ((size_t)nblk * C >= M3AE_CPU_PAR_MIN)
        for (int c = 0; c < C; c++) {
            double sg = 0.0, sb = 0.0;
            for (int blk = 0; blk < nblk; blk++) {
                sg += part[(size_t)blk * 2 * C + c];
                sb += part[(size_t)blk * 2 * C + C + c];
            }
            if (dg) dg[c] += (float)sg;
            if (db) db[c] += (float)sb;
        }
    }
}

void m3ae_cpu_patch_normalize(float *t, int n, int D, float eps) {
    // t (n,D) <- (t - mean) / sqrt(var_unbiased + eps), per row
#pragma omp parallel for schedule(static) if ((size_t)n * D >= M3AE_CPU_PAR_MIN)
    for (int r = 0; r < n; r++) {
        float *tr = t + (size_t)r * D;
        double s = 0.0;
        for (int c = 0; c < D; c++) s += tr[c];
        double m = s / D;
        double v = 0.0;
        for (int c = 0; c < D; c++) {
            double d = tr[c] - m;
            v += d * d;
        }
        v = D > 1 ? v / (D - 1) : 0.0;
        double inv = 1.0 / sqrt(v + (double)eps);
        for (int c = 0; c < D; c++) tr[c] = (float)((tr[c] - m) * inv);
    }
}
