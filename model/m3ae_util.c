/* Host helpers of the model: the MAE 2-D sin-cos table of the MIM decoder and the bicubic resize of
 * the CLIP positional embedding (spec 1.1, 1.6). */
#include <math.h>
#include <stdlib.h>

#include "model/m3ae.h"

void m3ae_sincos_2d(float *out, int D, int g) {
    const int q = D / 4;
    for (int d = 0; d < D; d++) out[d] = 0.0f; /* CLS row */
    for (int i = 0; i < g; i++)
        for (int j = 0; j < g; j++) {
            float *row = out + (size_t)(1 + i * g + j) * D;
            for (int k = 0; k < q; k++) {
                double omega = 1.0 / pow(10000.0, (double)k / q);
                row[k] = (float)sin(j * omega); /* column coordinate first (MAE) */
                row[q + k] = (float)cos(j * omega);
                row[2 * q + k] = (float)sin(i * omega);
                row[3 * q + k] = (float)cos(i * omega);
            }
        }
}

/* PyTorch's cubic convolution coefficients (A = -0.75) for fractional offset t. */
static void cubic_coeffs(double t, double c[4]) {
    const double A = -0.75;
    double x = t + 1.0;
    c[0] = ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    x = t;
    c[1] = ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    x = 1.0 - t;
    c[2] = ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    x = 2.0 - t;
    c[3] = ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
}

static int clampi(int v, int hi) { return v < 0 ? 0 : (v > hi ? hi : v); }

void m3ae_pos_resize_bicubic(float *out, int go, const float *in, int gi, int W) {
    for (int c = 0; c < W; c++) out[c] = in[c]; /* CLS row kept */
    const double scale = (double)gi / go;
    for (int oy = 0; oy < go; oy++) {
        double sy = scale * (oy + 0.5) - 0.5; /* align_corners=False, no clamp for cubic */
        int iy = (int)floor(sy);
        double cy[4];
        cubic_coeffs(sy - iy, cy);
        for (int ox = 0; ox < go; ox++) {
            double sx = scale * (ox + 0.5) - 0.5;
            int ix = (int)floor(sx);
            double cx[4];
            cubic_coeffs(sx - ix, cx);
            float *o = out + (size_t)(1 + oy * go + ox) * W;
            for (int c = 0; c < W; c++) {
                double acc = 0.0;
                for (int ky = 0; ky < 4; ky++) {
                    int yy = clampi(iy - 1 + ky, gi - 1);
                    double row = 0.0;
                    for (int kx = 0; kx < 4; kx++) {
                        int xx = clampi(ix - 1 + kx, gi - 1);
                        row += cx[kx] * in[(size_t)(1 + yy * gi + xx) * W + c];
                    }
                    acc += cy[ky] * row;
                }
                o[c] = (float)acc;
            }
        }
    }
}
