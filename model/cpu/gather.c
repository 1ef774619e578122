/* Gathers: embedding lookup, row gathers (MIM kept patches), and image patchify. */
#include <string.h>

#include "common/error.h"
#include "model/cpu/cpu_internal.h"

void m3ae_cpu_embedding_forward(float *y, const int32_t *ids, const float *table, int n, int C) {
    // ids (n), table (V,C) -> y (n,C)
#pragma omp parallel for schedule(static) if ((size_t)n * C >= M3AE_CPU_PAR_MIN)
    for (int i = 0; i < n; i++) {
        M3AE_CHECK(ids[i] >= 0, M3AE_EXIT_DATA, "embedding_forward: negative token id %d at row %d", (int)ids[i], i);
        memcpy(y + (size_t)i * C, table + (size_t)ids[i] * C, (size_t)C * sizeof(float));
    }
}

void m3ae_cpu_embedding_backward(float *dtable, const float *dy, const int32_t *ids, int n, int C, int padding_idx) {
    // dy (n,C) -> dtable (V,C) += ; columns split in fixed blocks, rows added in order; the
    // padding_idx row is left alone (-1 never matches a valid id)
    int nb = (C + 63) / 64;
#pragma omp parallel for schedule(static) if ((size_t)n * C >= M3AE_CPU_PAR_MIN)
    for (int blk = 0; blk < nb; blk++) {
        int c0 = blk * 64, cn = C - c0 < 64 ? C - c0 : 64;
        for (int i = 0; i < n; i++) {
            if (ids[i] == padding_idx) continue;
            float *dst = dtable + (size_t)ids[i] * C + c0;
            const float *src = dy + (size_t)i * C + c0;
            for (int c = 0; c < cn; c++) dst[c] += src[c];
        }
    }
}

static void check_idx(const int32_t *idx, int B, int Tin, int Tout, const char *fn) {
    for (size_t i = 0; i < (size_t)B * Tout; i++)
        M3AE_CHECK(idx[i] >= 0 && idx[i] < Tin, M3AE_EXIT_FAIL, "%s: index %d at (b=%zu, t=%zu) outside [0, %d)", fn,
                   (int)idx[i], i / (size_t)Tout, i % (size_t)Tout, Tin);
}

void m3ae_cpu_gather_rows(float *y, const float *x, const int32_t *idx, int B, int Tin, int Tout, int C) {
    // x (B,Tin,C), idx (B,Tout) -> y (B,Tout,C)
    check_idx(idx, B, Tin, Tout, "gather_rows");
    int n = B * Tout;
#pragma omp parallel for schedule(static) if ((size_t)n * C >= M3AE_CPU_PAR_MIN)
    for (int i = 0; i < n; i++) {
        int b = i / Tout;
        memcpy(y + (size_t)i * C, x + ((size_t)b * Tin + idx[i]) * C, (size_t)C * sizeof(float));
    }
}

void m3ae_cpu_gather_rows_backward(float *dx, const float *dy, const int32_t *idx, int B, int Tin, int Tout,
                                   int C) {
    // dy (B,Tout,C) -> dx (B,Tin,C) += ; each batch row on one thread, t in order
    check_idx(idx, B, Tin, Tout, "gather_rows_backward");
#pragma omp parallel for schedule(static) if ((size_t)B * Tout * C >= M3AE_CPU_PAR_MIN)
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < Tout; t++) {
            float *dst = dx + ((size_t)b * Tin + idx[(size_t)b * Tout + t]) * C;
            const float *src = dy + ((size_t)b * Tout + t) * C;
            for (int c = 0; c < C; c++) dst[c] += src[c];
        }
    }
}

void m3ae_cpu_patchify(float *patches, const float *img, int B, int H, int W, int P, int channel_last) {
    // img (B,3,H,W) -> patches (B, (H/P)*(W/P), 3*P*P)
    M3AE_CHECK(P > 0 && H % P == 0 && W % P == 0, M3AE_EXIT_USAGE,
               "patchify: image %dx%d is not a multiple of the patch size %d", H, W, P);
    const int gh = H / P, gw = W / P, np = gh * gw, D = 3 * P * P;
    const int n = B * np;
#pragma omp parallel for schedule(static) if ((size_t)n * D >= M3AE_CPU_PAR_MIN)
    for (int i = 0; i < n; i++) {
        int b = i / np, pi = (i % np) / gw, pj = (i % np) % gw;
        float *dst = patches + (size_t)i * D;
        for (int c = 0; c < 3; c++) {
            const float *plane = img + ((size_t)b * 3 + c) * H * W;
            for (int p = 0; p < P; p++) {
                const float *src = plane + (size_t)(pi * P + p) * W + (size_t)pj * P;
                if (channel_last)
                    for (int qq = 0; qq < P; qq++) dst[(p * P + qq) * 3 + c] = src[qq];
                else
                    memcpy(dst + (c * P + p) * P, src, (size_t)P * sizeof(float));
            }
        }
    }
}
