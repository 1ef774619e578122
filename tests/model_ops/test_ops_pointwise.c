/* CPU ops: memory helpers, activations (GELU, QuickGELU, tanh) against double references and
 * finite differences, the backend's exp, and counter-based dropout (mask = common/rng.h stream,
 * rate, determinism, backward uses forward's mask). */
#include "model/cpu/cpu_internal.h"
#include "ops_test_util.h"

static m3ae_backend *be;

static void test_memory(void) {
    float *a = be->ops->alloc(be, 1000 * sizeof(float), "test buffer");
    int zero = 1;
    for (int i = 0; i < 1000; i++) zero &= a[i] == 0.0f;
    T_CHECK(zero, "alloc does not zero");
    T_CHECK(((uintptr_t)a & 63) == 0, "alloc not 64-byte aligned");
    float *x = t_randn(100000, 1, 1.0f), *y = t_randn(100000, 2, 1.0f), *y0 = malloc(100000 * sizeof(float));
    memcpy(y0, y, 100000 * sizeof(float));
    be->ops->add_inplace(be, y, x, 100000);
    int ok = 1;
    for (int i = 0; i < 100000; i++) ok &= y[i] == y0[i] + x[i];
    T_CHECK(ok, "add_inplace");
    be->ops->scale(be, y, 0.5f, 100000);
    ok = 1;
    for (int i = 0; i < 100000; i++) ok &= y[i] == (y0[i] + x[i]) * 0.5f;
    T_CHECK(ok, "scale");
    be->ops->copy(be, y, x, 100000);
    T_CHECK(memcmp(x, y, 100000 * sizeof(float)) == 0, "copy");
    be->ops->zero(be, y, 100000);
    ok = 1;
    for (int i = 0; i < 100000; i++) ok &= y[i] == 0.0f;
    T_CHECK(ok, "zero");
    /* copy_rows between strided matrices: 7 rows of 5 from ld 9 into ld 6, other columns untouched */
    float dst[7 * 6];
    for (int i = 0; i < 42; i++) dst[i] = -1.0f;
    be->ops->copy_rows(be, dst, 6, x, 9, 7, 5);
    ok = 1;
    for (int r = 0; r < 7; r++)
        for (int c = 0; c < 6; c++) ok &= dst[r * 6 + c] == (c < 5 ? x[r * 9 + c] : -1.0f);
    T_CHECK(ok, "copy_rows");
    float h[4] = {1, 2, 3, 4}, back[4];
    be->ops->upload(be, a, h, sizeof h);
    be->ops->download(be, back, a, sizeof h);
    T_CHECK(memcmp(h, back, sizeof h) == 0, "upload/download round trip");
    be->ops->free(be, a);
    free(x), free(y), free(y0);
}

static void test_expf(void) {
    double worst = 0;
    for (int i = 0; i <= 200000; i++) {
        float x = -87.0f + (88.3f + 87.0f) * (float)i / 200000.0f;
        double ref = exp((double)x), got = m3ae_cpu_expf(x);
        worst = fmax(worst, fabs(got - ref) / ref);
    }
    T_CHECK(worst < 3e-7, "m3ae_cpu_expf max rel err %.3g (want < 3e-7)", worst);
    T_CHECK(m3ae_cpu_expf(0.0f) == 1.0f, "exp(0) = %.9g", (double)m3ae_cpu_expf(0.0f));
    T_CHECK(m3ae_cpu_expf(-10000.0f) < 1e-37f && m3ae_cpu_expf(-10000.0f) >= 0.0f, "exp(-1e4) = %g",
            (double)m3ae_cpu_expf(-10000.0f));
    T_CHECK(isfinite(m3ae_cpu_expf(1000.0f)), "exp(1000) not finite");
    T_CHECK(isnan(m3ae_cpu_expf(NAN)), "exp(NaN) is not NaN");
    worst = 0;
    for (int i = -200000; i <= 200000; i++) {
        float x = (float)i * 3e-5f;
        worst = fmax(worst, fabs((double)m3ae_cpu_erff(x) - erf((double)x)));
    }
    T_CHECK(worst < 6e-7, "m3ae_cpu_erff max abs err %.3g (want < 6e-7)", worst);
    T_CHECK(m3ae_cpu_erff(30.0f) == 1.0f && m3ae_cpu_erff(-30.0f) == -1.0f, "erf(+-30) = %.9g, %.9g",
            (double)m3ae_cpu_erff(30.0f), (double)m3ae_cpu_erff(-30.0f));
}

/* ---------- activations ---------- */
enum { ACT_GELU, ACT_QUICK, ACT_TANH };
typedef struct {
    int kind;
    size_t n;
    float *w;
} act_ctx;

static double act_ref(int kind, double x) {
    switch (kind) {
    case ACT_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case ACT_QUICK: return x / (1.0 + exp(-1.702 * x));
    default: return tanh(x);
    }
}

static void act_fwd(int kind, float *y, const float *x, size_t n) {
    if (kind == ACT_GELU) be->ops->gelu_forward(be, y, x, n);
    else if (kind == ACT_QUICK) be->ops->quickgelu_forward(be, y, x, n);
    else be->ops->tanh_forward(be, y, x, n);
}

static double act_objf(void *vc, const float *x) {
    act_ctx *c = vc;
    float *y = malloc(sizeof(float) * c->n);
    act_fwd(c->kind, y, x, c->n);
    double L = 0;
    for (size_t i = 0; i < c->n; i++) L += (double)c->w[i] * y[i];
    free(y);
    return L;
}

static double act_objd(void *vc, const double *x) {
    act_ctx *c = vc;
    double L = 0;
    for (size_t i = 0; i < c->n; i++) L += c->w[i] * act_ref(c->kind, x[i]);
    return L;
}

static void test_activation(int kind, const char *name) {
    /* forward on a wide range (large n: the parallel path too) */
    size_t big = 100003;
    float *x = t_randn(big, 50 + kind, 3.0f), *y = malloc(sizeof(float) * big);
    x[0] = 0.0f, x[1] = -30.0f, x[2] = 30.0f, x[3] = -9.5f;
    double *ref = malloc(sizeof(double) * big);
    for (size_t i = 0; i < big; i++) ref[i] = act_ref(kind, x[i]);
    act_fwd(kind, y, x, big);
    double worst = 0;
    /* |err| <= 1e-6 + 2e-6 |ref|: the absolute part covers 1 + erf(x) cancelling for x << 0 (as in torch) */
    for (size_t i = 0; i < big; i++) worst = fmax(worst, fabs(y[i] - ref[i]) / (1e-6 + 2e-6 * fabs(ref[i])));
    T_CHECK(worst <= 1.0, "%s forward: max error %.3g of the tolerance 1e-6 + 2e-6 |ref|", name, worst);
    /* backward vs finite differences; dx aliasing dy */
    act_ctx c = {.kind = kind, .n = 40};
    float *xs = t_randn(c.n, 60 + kind, 2.0f);
    c.w = t_randn(c.n, 70 + kind, 1.0f);
    float *dx = malloc(sizeof(float) * c.n), *dyx = malloc(sizeof(float) * c.n);
    memcpy(dyx, c.w, sizeof(float) * c.n);
    if (kind == ACT_GELU) {
        be->ops->gelu_backward(be, dx, c.w, xs, c.n);
        be->ops->gelu_backward(be, dyx, dyx, xs, c.n);
    } else if (kind == ACT_QUICK) {
        be->ops->quickgelu_backward(be, dx, c.w, xs, c.n);
        be->ops->quickgelu_backward(be, dyx, dyx, xs, c.n);
    } else {
        float *yt = malloc(sizeof(float) * c.n);
        be->ops->tanh_forward(be, yt, xs, c.n);
        be->ops->tanh_backward(be, dx, c.w, yt, c.n);
        be->ops->tanh_backward(be, dyx, dyx, yt, c.n);
        free(yt);
    }
    T_CHECK(memcmp(dx, dyx, sizeof(float) * c.n) == 0, "%s backward with dx == dy differs", name);
    char what[64];
    snprintf(what, sizeof what, "%s dx", name);
    t_grad_check(what, xs, c.n, dx, act_objf, act_objd, &c);
    free(x), free(y), free(ref), free(xs), free(c.w), free(dx), free(dyx);
}

/* ---------- dropout ---------- */
typedef struct {
    int B;
    size_t per_row;
    const m3ae_dropout *d;
    float *w;
} drop_ctx;

static double drop_objf(void *vc, const float *x) {
    drop_ctx *c = vc;
    size_t n = (size_t)c->B * c->per_row;
    float *y = malloc(sizeof(float) * n);
    be->ops->dropout_forward(be, y, x, c->B, c->per_row, c->d);
    double L = 0;
    for (size_t i = 0; i < n; i++) L += (double)c->w[i] * y[i];
    free(y);
    return L;
}

static void test_dropout(void) {
    const int B = 3;
    const size_t per_row = 5003; /* more than one chunk, not a multiple of 4 */
    const size_t n = B * per_row;
    int64_t ids[3] = {17, 123456789012345ll, 5};
    m3ae_dropout d = {.p = 0.3f, .seed = 42, .step = 7, .site = 3, .sample_ids = ids};
    float *x = t_randn(n, 80, 1.0f), *y = malloc(sizeof(float) * n), *y2 = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++)
        if (x[i] == 0.0f) x[i] = 1.0f;
    be->ops->dropout_forward(be, y, x, B, per_row, &d);
    /* the mask is exactly the common/rng.h stream: keep when uniform >= p, scale 1/(1-p) */
    const float scale = 1.0f / (1.0f - d.p);
    size_t mismatch = 0, dropped = 0;
    for (int b = 0; b < B; b++) {
        m3ae_rng r = m3ae_rng_make(d.seed, M3AE_RNG_DROPOUT + d.site, d.step, (uint64_t)ids[b]);
        for (size_t i = 0; i < per_row; i++) {
            float want = m3ae_rng_uniform(&r, i) >= d.p ? x[b * per_row + i] * scale : 0.0f;
            mismatch += y[b * per_row + i] != want;
            dropped += want == 0.0f;
        }
    }
    T_CHECK(mismatch == 0, "dropout mask differs from m3ae_rng_uniform in %zu elements", mismatch);
    double rate = (double)dropped / n, sd = sqrt(0.3 * 0.7 / n);
    T_CHECK(fabs(rate - 0.3) < 4 * sd, "dropout rate %.4f, want 0.3 +- %.4f", rate, 4 * sd);
    /* deterministic, thread-count independent, in place */
    t_set_threads(&be, 2);
    be->ops->dropout_forward(be, y2, x, B, per_row, &d);
    t_set_threads(&be, 1);
    T_CHECK(memcmp(y, y2, sizeof(float) * n) == 0, "dropout differs between 1 and 2 threads");
    memcpy(y2, x, sizeof(float) * n);
    be->ops->dropout_forward(be, y2, y2, B, per_row, &d);
    T_CHECK(memcmp(y, y2, sizeof(float) * n) == 0, "dropout in place differs");
    /* the same sample in another batch position gets the same mask; another step another mask */
    int64_t ids2[3] = {5, 17, 999};
    m3ae_dropout d2 = d;
    d2.sample_ids = ids2;
    float *xr = malloc(sizeof(float) * n);
    memcpy(xr, x + 2 * per_row, sizeof(float) * per_row);
    memcpy(xr + per_row, x, sizeof(float) * per_row);
    memcpy(xr + 2 * per_row, x + per_row, sizeof(float) * per_row);
    be->ops->dropout_forward(be, y2, xr, B, per_row, &d2);
    T_CHECK(memcmp(y2, y + 2 * per_row, sizeof(float) * per_row) == 0 &&
                memcmp(y2 + per_row, y, sizeof(float) * per_row) == 0,
            "dropout mask depends on the batch position, not only on the sample id");
    d2 = d;
    d2.step = 8;
    be->ops->dropout_forward(be, y2, x, B, per_row, &d2);
    size_t same = 0;
    for (size_t i = 0; i < n; i++) same += (y2[i] == 0.0f) == (y[i] == 0.0f);
    T_CHECK(same < n - n / 5, "dropout mask barely changes with the step (%zu of %zu agree)", same, n);
    /* backward applies forward's mask */
    float *dy = t_randn(n, 81, 1.0f), *dx = malloc(sizeof(float) * n);
    be->ops->dropout_backward(be, dx, dy, B, per_row, &d);
    mismatch = 0;
    for (size_t i = 0; i < n; i++) mismatch += dx[i] != (y[i] == 0.0f ? 0.0f : dy[i] * scale);
    T_CHECK(mismatch == 0, "dropout backward mask differs from forward's in %zu elements", mismatch);
    /* finite differences on a small case */
    drop_ctx c = {.B = 2, .per_row = 13, .d = &d};
    float *xs = t_randn(26, 82, 1.0f), *dxs = malloc(sizeof(float) * 26);
    c.w = t_randn(26, 83, 1.0f);
    be->ops->dropout_backward(be, dxs, c.w, c.B, c.per_row, &d);
    t_grad_check("dropout dx", xs, 26, dxs, drop_objf, NULL, &c);
    /* p == 0 and NULL are the identity */
    m3ae_dropout d0 = d;
    d0.p = 0.0f;
    be->ops->dropout_forward(be, y2, x, B, per_row, &d0);
    T_CHECK(memcmp(y2, x, sizeof(float) * n) == 0, "dropout p=0 is not the identity");
    be->ops->dropout_backward(be, y2, dy, B, per_row, NULL);
    T_CHECK(memcmp(y2, dy, sizeof(float) * n) == 0, "dropout NULL backward is not the identity");
    free(x), free(y), free(y2), free(xr), free(dy), free(dx), free(xs), free(dxs), free(c.w);
}

int main(void) {
    t_set_threads(&be, 1);
    test_memory();
    test_expf();
    test_activation(ACT_GELU, "gelu");
    test_activation(ACT_QUICK, "quickgelu");
    test_activation(ACT_TANH, "tanh");
    test_dropout();
    return t_done("test_ops_pointwise");
}
