/* CPU ops: gemm (every transpose, strides, tiled and serial paths), linear forward/backward,
 * layer norm forward/backward, patch_normalize, against double references and finite
 * differences; and thread-count independence (same bits with 1, 2 and 3 threads). */
#include "ops_test_util.h"

static m3ae_backend *be;

/* ---------- gemm ---------- */
static void check_gemm(int ta, int tb, int M, int N, int K, int pad) {
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    int arows = ta ? K : M, brows = tb ? N : K;
    float *A = t_randn((size_t)arows * lda, 1 + M, 1.0f), *B = t_randn((size_t)brows * ldb, 2 + N, 1.0f);
    float *C = t_randn((size_t)M * ldc, 3 + K, 1.0f);
    double *ref = malloc(sizeof(double) * M * ldc);
    const float alpha = 0.5f, beta = 0.75f;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc; j++) {
            if (j >= N) {
                ref[(size_t)i * ldc + j] = C[(size_t)i * ldc + j]; /* padding must stay untouched */
                continue;
            }
            double s = 0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += a * b;
            }
            ref[(size_t)i * ldc + j] = alpha * s + beta * C[(size_t)i * ldc + j];
        }
    be->ops->gemm(be, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    double e = t_rel_err(C, ref, (size_t)M * ldc);
    T_CHECK(e < 1e-5, "gemm ta=%d tb=%d %dx%dx%d pad %d: rel err %.3g", ta, tb, M, N, K, pad, e);
    free(A), free(B), free(C), free(ref);
}

/* ---------- linear ---------- */
typedef struct {
    int n, in, out, which; /* which: 0 x, 1 W, 2 b */
    float *x, *W, *b;
    float *w; /* objective weights (n,out) */
} lin_ctx;

static double lin_objf(void *vc, const float *v) {
    lin_ctx *c = vc;
    const float *x = c->which == 0 ? v : c->x, *W = c->which == 1 ? v : c->W, *b = c->which == 2 ? v : c->b;
    float *y = malloc(sizeof(float) * c->n * c->out);
    be->ops->linear_forward(be, y, x, W, b, c->n, c->in, c->out);
    double L = 0;
    for (int i = 0; i < c->n * c->out; i++) L += (double)c->w[i] * y[i];
    free(y);
    return L;
}

static double lin_objd(void *vc, const double *v) {
    lin_ctx *c = vc;
    double L = 0;
    for (int r = 0; r < c->n; r++)
        for (int o = 0; o < c->out; o++) {
            double s = c->which == 2 ? v[o] : c->b[o];
            for (int i = 0; i < c->in; i++) {
                double x = c->which == 0 ? v[r * c->in + i] : c->x[r * c->in + i];
                double W = c->which == 1 ? v[o * c->in + i] : c->W[o * c->in + i];
                s += x * W;
            }
            L += c->w[r * c->out + o] * s;
        }
    return L;
}

static void test_linear(void) {
    lin_ctx c = {.n = 5, .in = 7, .out = 6};
    c.x = t_randn(c.n * c.in, 11, 1.0f), c.W = t_randn(c.out * c.in, 12, 0.5f), c.b = t_randn(c.out, 13, 0.5f);
    c.w = t_randn(c.n * c.out, 14, 1.0f);
    /* forward vs double reference (bias and no bias) */
    float *y = malloc(sizeof(float) * c.n * c.out);
    double *ref = malloc(sizeof(double) * c.n * c.out);
    for (int withb = 0; withb < 2; withb++) {
        be->ops->linear_forward(be, y, c.x, c.W, withb ? c.b : NULL, c.n, c.in, c.out);
        for (int r = 0; r < c.n; r++)
            for (int o = 0; o < c.out; o++) {
                double s = withb ? c.b[o] : 0;
                for (int i = 0; i < c.in; i++) s += (double)c.x[r * c.in + i] * c.W[o * c.in + i];
                ref[r * c.out + o] = s;
            }
        double e = t_rel_err(y, ref, (size_t)c.n * c.out);
        T_CHECK(e < 1e-6, "linear_forward (bias %d) rel err %.3g", withb, e);
    }
    /* backward: dW, db accumulate onto existing values; dx written or accumulated */
    float *dx = t_randn(c.n * c.in, 15, 1.0f), *dW = t_randn(c.out * c.in, 16, 1.0f), *db = t_randn(c.out, 17, 1.0f);
    float *dx0 = malloc(sizeof(float) * c.n * c.in), *dW0 = malloc(sizeof(float) * c.out * c.in),
          *db0 = malloc(sizeof(float) * c.out);
    memcpy(dW0, dW, sizeof(float) * c.out * c.in);
    memcpy(db0, db, sizeof(float) * c.out);
    be->ops->linear_backward(be, dx, dW, db, c.w, c.x, c.W, c.n, c.in, c.out, 0);
    for (int i = 0; i < c.out * c.in; i++) dW[i] -= dW0[i];
    for (int i = 0; i < c.out; i++) db[i] -= db0[i];
    c.which = 0;
    t_grad_check("linear dx", c.x, c.n * c.in, dx, lin_objf, lin_objd, &c);
    c.which = 1;
    t_grad_check("linear dW", c.W, c.out * c.in, dW, lin_objf, lin_objd, &c);
    c.which = 2;
    t_grad_check("linear db", c.b, c.out, db, lin_objf, lin_objd, &c);
    /* accumulate_dx adds; NULL outputs are allowed */
    memcpy(dx0, dx, sizeof(float) * c.n * c.in);
    be->ops->linear_backward(be, dx, NULL, NULL, c.w, c.x, c.W, c.n, c.in, c.out, 1);
    double e = 0;
    for (int i = 0; i < c.n * c.in; i++) e = fmax(e, fabs(dx[i] - 2 * dx0[i]));
    T_CHECK(e < 1e-5, "linear_backward accumulate_dx: dx != 2 * dx0 (max err %.3g)", e);
    free(y), free(ref), free(dx), free(dW), free(db), free(dx0), free(dW0), free(db0);
    free(c.x), free(c.W), free(c.b), free(c.w);
}

/* ---------- layer norm ---------- */
typedef struct {
    int n, C, which; /* 0 x, 1 g, 2 b */
    float *x, *g, *b, *w;
    float eps;
} ln_ctx;

static double ln_objf(void *vc, const float *v) {
    ln_ctx *c = vc;
    const float *x = c->which == 0 ? v : c->x, *g = c->which == 1 ? v : c->g, *b = c->which == 2 ? v : c->b;
    float *y = malloc(sizeof(float) * c->n * c->C), *m = malloc(sizeof(float) * c->n), *rs = malloc(sizeof(float) * c->n);
    be->ops->layernorm_forward(be, y, m, rs, x, g, b, c->n, c->C, c->eps);
    double L = 0;
    for (int i = 0; i < c->n * c->C; i++) L += (double)c->w[i] * y[i];
    free(y), free(m), free(rs);
    return L;
}

static void ln_ref(double *y, const double *x, const double *g, const double *b, int n, int C, double eps) {
    for (int r = 0; r < n; r++) {
        double m = 0, v = 0;
        for (int c = 0; c < C; c++) m += x[r * C + c];
        m /= C;
        for (int c = 0; c < C; c++) v += (x[r * C + c] - m) * (x[r * C + c] - m);
        v /= C;
        for (int c = 0; c < C; c++) y[r * C + c] = (x[r * C + c] - m) / sqrt(v + eps) * g[c] + b[c];
    }
}

static double ln_objd(void *vc, const double *v) {
    ln_ctx *c = vc;
    double *x = t_to_double(c->x, c->n * c->C), *g = t_to_double(c->g, c->C), *b = t_to_double(c->b, c->C);
    double *y = malloc(sizeof(double) * c->n * c->C);
    ln_ref(y, c->which == 0 ? v : x, c->which == 1 ? v : g, c->which == 2 ? v : b, c->n, c->C, c->eps);
    double L = 0;
    for (int i = 0; i < c->n * c->C; i++) L += c->w[i] * y[i];
    free(x), free(g), free(b), free(y);
    return L;
}

static void test_layernorm(void) {
    ln_ctx c = {.n = 4, .C = 9, .eps = 1e-5f};
    c.x = t_randn(c.n * c.C, 21, 2.0f), c.g = t_randn(c.C, 22, 1.0f), c.b = t_randn(c.C, 23, 1.0f);
    for (int i = 0; i < c.C; i++) c.x[i] += 3.0f; /* a row with a large mean */
    c.w = t_randn(c.n * c.C, 24, 1.0f);
    size_t nc = (size_t)c.n * c.C;
    float *y = malloc(sizeof(float) * nc), *m = malloc(sizeof(float) * c.n), *rs = malloc(sizeof(float) * c.n);
    double *xd = t_to_double(c.x, nc), *gd = t_to_double(c.g, c.C), *bd = t_to_double(c.b, c.C);
    double *ref = malloc(sizeof(double) * nc);
    ln_ref(ref, xd, gd, bd, c.n, c.C, c.eps);
    be->ops->layernorm_forward(be, y, m, rs, c.x, c.g, c.b, c.n, c.C, c.eps);
    double e = t_rel_err(y, ref, nc);
    T_CHECK(e < 1e-6, "layernorm_forward rel err %.3g", e);
    /* in place (y aliases x) gives the same bits */
    float *xi = malloc(sizeof(float) * nc);
    memcpy(xi, c.x, sizeof(float) * nc);
    be->ops->layernorm_forward(be, xi, m, rs, xi, c.g, c.b, c.n, c.C, c.eps);
    T_CHECK(memcmp(xi, y, sizeof(float) * nc) == 0, "layernorm_forward in place differs");
    /* backward */
    be->ops->layernorm_forward(be, y, m, rs, c.x, c.g, c.b, c.n, c.C, c.eps);
    float *dx = malloc(sizeof(float) * nc), *dg = calloc(c.C, sizeof(float)), *db = calloc(c.C, sizeof(float));
    be->ops->layernorm_backward(be, dx, dg, db, c.w, c.x, m, rs, c.g, c.n, c.C, 0);
    c.which = 0;
    t_grad_check("layernorm dx", c.x, nc, dx, ln_objf, ln_objd, &c);
    c.which = 1;
    t_grad_check("layernorm dg", c.g, c.C, dg, ln_objf, ln_objd, &c);
    c.which = 2;
    t_grad_check("layernorm db", c.b, c.C, db, ln_objf, ln_objd, &c);
    /* accumulation: dg, db add; dx adds with accumulate_dx */
    float *dx2 = malloc(sizeof(float) * nc), *dg2 = malloc(sizeof(float) * c.C), *db2 = malloc(sizeof(float) * c.C);
    memcpy(dx2, dx, sizeof(float) * nc), memcpy(dg2, dg, sizeof(float) * c.C), memcpy(db2, db, sizeof(float) * c.C);
    be->ops->layernorm_backward(be, dx2, dg2, db2, c.w, c.x, m, rs, c.g, c.n, c.C, 1);
    e = 0;
    for (size_t i = 0; i < nc; i++) e = fmax(e, fabs(dx2[i] - 2 * dx[i]));
    for (int i = 0; i < c.C; i++) e = fmax(e, fmax(fabs(dg2[i] - 2 * dg[i]), fabs(db2[i] - 2 * db[i])));
    T_CHECK(e < 1e-5, "layernorm_backward accumulation: not doubled (max err %.3g)", e);
    /* dx may alias dy */
    float *dyi = malloc(sizeof(float) * nc);
    memcpy(dyi, c.w, sizeof(float) * nc);
    be->ops->layernorm_backward(be, dyi, NULL, NULL, dyi, c.x, m, rs, c.g, c.n, c.C, 0);
    T_CHECK(memcmp(dyi, dx, sizeof(float) * nc) == 0, "layernorm_backward with dx == dy differs");
    free(y), free(m), free(rs), free(xd), free(gd), free(bd), free(ref), free(xi), free(dx), free(dg), free(db);
    free(dx2), free(dg2), free(db2), free(dyi);
    free(c.x), free(c.g), free(c.b), free(c.w);
}

/* ---------- patch_normalize ---------- */
static void test_patch_normalize(void) {
    int n = 6, D = 48;
    float *t = t_randn(n * D, 31, 3.0f);
    for (int i = 0; i < D; i++) t[i] += 5.0f;
    double *ref = malloc(sizeof(double) * n * D);
    for (int r = 0; r < n; r++) {
        double m = 0, v = 0;
        for (int d = 0; d < D; d++) m += t[r * D + d];
        m /= D;
        for (int d = 0; d < D; d++) v += (t[r * D + d] - m) * (t[r * D + d] - m);
        v /= (D - 1); /* unbiased, like torch.var */
        for (int d = 0; d < D; d++) ref[r * D + d] = (t[r * D + d] - m) / sqrt(v + 1e-6);
    }
    be->ops->patch_normalize(be, t, n, D, 1e-6f);
    double e = t_rel_err(t, ref, (size_t)n * D);
    T_CHECK(e < 1e-6, "patch_normalize rel err %.3g", e);
    free(t), free(ref);
}

/* ---------- thread-count independence ---------- */
static void test_threads(void) {
    int n = 333, in = 64, out = 700; /* every product above the serial threshold, tiled */
    float *x = t_randn((size_t)n * in, 41, 1.0f), *W = t_randn((size_t)out * in, 42, 0.1f),
          *b = t_randn(out, 43, 0.1f), *dy = t_randn((size_t)n * out, 44, 1.0f);
    size_t sx = sizeof(float) * n * in, sw = sizeof(float) * out * in, sy = sizeof(float) * n * out;
    float *y[3], *dx[3], *dW[3], *db[3];
    int C = 96, rows = 1000;
    float *lx = t_randn((size_t)rows * C, 45, 1.0f), *lg = t_randn(C, 46, 1.0f), *lb = t_randn(C, 47, 1.0f),
          *ldy = t_randn((size_t)rows * C, 48, 1.0f);
    float *ly[3], *lm[3], *lr[3], *ldx[3], *ldg[3], *ldb[3];
    for (int t = 0; t < 3; t++) {
        t_set_threads(&be, t + 1);
        y[t] = malloc(sy), dx[t] = malloc(sx), dW[t] = calloc(1, sw), db[t] = calloc(out, sizeof(float));
        be->ops->linear_forward(be, y[t], x, W, b, n, in, out);
        be->ops->linear_backward(be, dx[t], dW[t], db[t], dy, x, W, n, in, out, 0);
        ly[t] = malloc(sizeof(float) * rows * C), lm[t] = malloc(sizeof(float) * rows),
        lr[t] = malloc(sizeof(float) * rows), ldx[t] = malloc(sizeof(float) * rows * C);
        ldg[t] = calloc(C, sizeof(float)), ldb[t] = calloc(C, sizeof(float));
        be->ops->layernorm_forward(be, ly[t], lm[t], lr[t], lx, lg, lb, rows, C, 1e-5f);
        be->ops->layernorm_backward(be, ldx[t], ldg[t], ldb[t], ldy, lx, lm[t], lr[t], lg, rows, C, 0);
    }
    for (int t = 1; t < 3; t++) {
        T_CHECK(memcmp(y[0], y[t], sy) == 0, "linear_forward differs between 1 and %d threads", t + 1);
        T_CHECK(memcmp(dx[0], dx[t], sx) == 0, "linear_backward dx differs between 1 and %d threads", t + 1);
        T_CHECK(memcmp(dW[0], dW[t], sw) == 0, "linear_backward dW differs between 1 and %d threads", t + 1);
        T_CHECK(memcmp(db[0], db[t], sizeof(float) * out) == 0, "linear_backward db differs (1 vs %d threads)", t + 1);
        T_CHECK(memcmp(ly[0], ly[t], sizeof(float) * rows * C) == 0, "layernorm_forward differs (1 vs %d threads)",
                t + 1);
        T_CHECK(memcmp(ldx[0], ldx[t], sizeof(float) * rows * C) == 0, "layernorm_backward dx differs (1 vs %d)", t + 1);
        T_CHECK(memcmp(ldg[0], ldg[t], sizeof(float) * C) == 0 && memcmp(ldb[0], ldb[t], sizeof(float) * C) == 0,
                "layernorm_backward dg/db differ between 1 and %d threads", t + 1);
    }
    /* and the big product is right (tiled path) */
    double *ref = malloc(sizeof(double) * out * in);
    for (int o = 0; o < out; o++)
        for (int i = 0; i < in; i++) {
            double s = 0;
            for (int r = 0; r < n; r++) s += (double)dy[(size_t)r * out + o] * x[(size_t)r * in + i];
            ref[(size_t)o * in + i] = s;
        }
    double e = t_rel_err(dW[1], ref, (size_t)out * in);
    T_CHECK(e < 1e-5, "linear_backward dW (tiled) rel err %.3g", e);
    free(ref);
    for (int t = 0; t < 3; t++) {
        free(y[t]), free(dx[t]), free(dW[t]), free(db[t]);
        free(ly[t]), free(lm[t]), free(lr[t]), free(ldx[t]), free(ldg[t]), free(ldb[t]);
    }
    free(x), free(W), free(b), free(dy), free(lx), free(lg), free(lb), free(ldy);
    t_set_threads(&be, 1);
}

int main(void) {
    t_set_threads(&be, 1);
    T_CHECK(strcmp(be->name, "cpu") == 0 && be->ops->is_host(be) == 1, "backend name %s", be->name);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            check_gemm(ta, tb, 37, 29, 23, 0);
            check_gemm(ta, tb, 37, 29, 23, 5);
            check_gemm(ta, tb, 300, 1100, 20, 3); /* tiled over columns */
            check_gemm(ta, tb, 1100, 300, 20, 0); /* tiled over rows */
            check_gemm(ta, tb, 100, 800, 60, 1);  /* wide: tiled over columns */
        }
    test_linear();
    test_layernorm();
    test_patch_normalize();
    test_threads();
    return t_done("test_ops_linalg");
}
