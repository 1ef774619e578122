/* CPU ops: embedding, gather_rows, patchify (both vector orders, against the index formula),
 * cross-entropy (ignore_index, count, correct, aliasing) and the MIM loss, against double
 * references and finite differences. */
#include "ops_test_util.h"

static m3ae_backend *be;

/* ---------- embedding ---------- */
typedef struct {
    int n, C;
    const int32_t *ids;
    float *w;
} emb_ctx;

static double emb_objf(void *vc, const float *table) {
    emb_ctx *c = vc;
    float *y = malloc(sizeof(float) * c->n * c->C);
    be->ops->embedding_forward(be, y, c->ids, table, c->n, c->C);
    double L = 0;
    for (int i = 0; i < c->n * c->C; i++) L += (double)c->w[i] * y[i];
    free(y);
    return L;
}

static double emb_objd(void *vc, const double *table) {
    emb_ctx *c = vc;
    double L = 0;
    for (int i = 0; i < c->n; i++)
        for (int j = 0; j < c->C; j++) L += c->w[i * c->C + j] * table[c->ids[i] * c->C + j];
    return L;
}

static void test_embedding(void) {
    int V = 6, C = 5;
    int32_t ids[7] = {3, 0, 3, 5, 1, 3, 0}; /* repeats accumulate */
    emb_ctx c = {.n = 7, .C = C, .ids = ids};
    float *table = t_randn(V * C, 1, 1.0f), *y = malloc(sizeof(float) * 7 * C);
    c.w = t_randn(7 * C, 2, 1.0f);
    be->ops->embedding_forward(be, y, ids, table, 7, C);
    int ok = 1;
    for (int i = 0; i < 7; i++)
        for (int j = 0; j < C; j++) ok &= y[i * C + j] == table[ids[i] * C + j];
    T_CHECK(ok, "embedding_forward != table[ids]");
    float *dt = t_randn(V * C, 3, 1.0f), *dt0 = malloc(sizeof(float) * V * C);
    memcpy(dt0, dt, sizeof(float) * V * C);
    be->ops->embedding_backward(be, dt, c.w, ids, 7, C, -1);
    for (int i = 0; i < V * C; i++) dt[i] -= dt0[i]; /* it accumulates */
    t_grad_check("embedding dtable", table, V * C, dt, emb_objf, emb_objd, &c);
    /* rows never used get nothing */
    ok = 1;
    for (int j = 0; j < C; j++) ok &= dt[2 * C + j] == 0.0f && dt[4 * C + j] == 0.0f;
    T_CHECK(ok, "embedding_backward touched unused rows");
    free(table), free(y), free(c.w), free(dt), free(dt0);
}

/* padding_idx (torch nn.Embedding(padding_idx=p)): the row p keeps exactly its old values even
 * where p occurs among the ids (twice here, and between other ids), and every other row gets
 * exactly what it gets with no padding_idx. */
static void test_embedding_padding_idx(void) {
    int V = 6, C = 70; /* C > 64: more than one column block */
    int32_t ids[8] = {3, 1, 0, 1, 5, 3, 2, 1};
    float *dy = t_randn(8 * C, 4, 1.0f), *d_pad = t_randn(V * C, 5, 1.0f), *d_none = malloc(sizeof(float) * V * C),
          *d0 = malloc(sizeof(float) * V * C);
    memcpy(d_none, d_pad, sizeof(float) * V * C);
    memcpy(d0, d_pad, sizeof(float) * V * C);
    be->ops->embedding_backward(be, d_pad, dy, ids, 8, C, 1);
    be->ops->embedding_backward(be, d_none, dy, ids, 8, C, -1);
    int row1_kept = 1, others_same = 1, row1_moved = 0;
    for (int r = 0; r < V; r++)
        for (int j = 0; j < C; j++) {
            size_t k = (size_t)r * C + j;
            if (r == 1) {
                row1_kept &= d_pad[k] == d0[k];
                row1_moved |= d_none[k] != d0[k];
            } else {
                others_same &= d_pad[k] == d_none[k];
            }
        }
    T_CHECK(row1_kept, "embedding_backward with padding_idx 1 changed row 1");
    T_CHECK(others_same, "embedding_backward with padding_idx 1 changed another row differently from padding_idx -1");
    T_CHECK(row1_moved, "embedding_backward with padding_idx -1 left row 1 alone (the case is vacuous)");
    /* an id equal to padding_idx 0 (not <pad>) is skipped the same way */
    memcpy(d_pad, d0, sizeof(float) * V * C);
    be->ops->embedding_backward(be, d_pad, dy, ids, 8, C, 0);
    int row0_kept = 1;
    for (int j = 0; j < C; j++) row0_kept &= d_pad[j] == d0[j];
    T_CHECK(row0_kept, "embedding_backward with padding_idx 0 changed row 0");
    free(dy), free(d_pad), free(d_none), free(d0);
}

/* ---------- gather_rows ---------- */
typedef struct {
    int B, Tin, Tout, C;
    const int32_t *idx;
    float *w;
} gat_ctx;

static double gat_objf(void *vc, const float *x) {
    gat_ctx *c = vc;
    float *y = malloc(sizeof(float) * c->B * c->Tout * c->C);
    be->ops->gather_rows(be, y, x, c->idx, c->B, c->Tin, c->Tout, c->C);
    double L = 0;
    for (int i = 0; i < c->B * c->Tout * c->C; i++) L += (double)c->w[i] * y[i];
    free(y);
    return L;
}

static void test_gather(void) {
    int B = 2, Tin = 5, Tout = 3, C = 4;
    int32_t idx[6] = {4, 0, 2, 1, 1, 3};
    gat_ctx c = {.B = B, .Tin = Tin, .Tout = Tout, .C = C, .idx = idx};
    float *x = t_randn(B * Tin * C, 10, 1.0f), *y = malloc(sizeof(float) * B * Tout * C);
    c.w = t_randn(B * Tout * C, 11, 1.0f);
    be->ops->gather_rows(be, y, x, idx, B, Tin, Tout, C);
    int ok = 1;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < Tout; t++)
            for (int j = 0; j < C; j++) ok &= y[(b * Tout + t) * C + j] == x[(b * Tin + idx[b * Tout + t]) * C + j];
    T_CHECK(ok, "gather_rows != x[b, idx[b,t]]");
    float *dx = t_randn(B * Tin * C, 12, 1.0f), *dx0 = malloc(sizeof(float) * B * Tin * C);
    memcpy(dx0, dx, sizeof(float) * B * Tin * C);
    be->ops->gather_rows_backward(be, dx, c.w, idx, B, Tin, Tout, C);
    for (int i = 0; i < B * Tin * C; i++) dx[i] -= dx0[i];
    t_grad_check("gather_rows dx", x, B * Tin * C, dx, gat_objf, NULL, &c);
    free(x), free(y), free(c.w), free(dx), free(dx0);
}

/* ---------- patchify ---------- */
static void test_patchify(void) {
    int B = 2, H = 12, W = 8, P = 4, gh = H / P, gw = W / P, D = 3 * P * P;
    float *img = t_randn(B * 3 * H * W, 20, 1.0f), *pa = malloc(sizeof(float) * B * gh * gw * D);
    for (int cl = 0; cl < 2; cl++) {
        be->ops->patchify(be, pa, img, B, H, W, P, cl);
        int ok = 1;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < gh; i++)
                for (int j = 0; j < gw; j++)
                    for (int c = 0; c < 3; c++)
                        for (int p = 0; p < P; p++)
                            for (int q = 0; q < P; q++) {
                                int v = cl ? (p * P + q) * 3 + c : (c * P + p) * P + q;
                                ok &= pa[((size_t)b * gh * gw + i * gw + j) * D + v] ==
                                      img[(((size_t)b * 3 + c) * H + i * P + p) * W + j * P + q];
                            }
        T_CHECK(ok, "patchify channel_last=%d differs from the index formula", cl);
    }
    free(img), free(pa);
}

/* ---------- cross entropy ---------- */
typedef struct {
    int n, V, ignore;
    const int32_t *labels;
    float gs;
} ce_ctx;

static double ce_objf(void *vc, const float *x) {
    ce_ctx *c = vc;
    return c->gs * be->ops->cross_entropy(be, NULL, x, c->labels, c->n, c->V, c->ignore, c->gs, NULL, NULL);
}

static double ce_ref(const ce_ctx *c, const double *x) {
    double L = 0;
    for (int r = 0; r < c->n; r++) {
        if (c->labels[r] == c->ignore) continue;
        double mx = -INFINITY, s = 0;
        for (int j = 0; j < c->V; j++) mx = fmax(mx, x[r * c->V + j]);
        for (int j = 0; j < c->V; j++) s += exp(x[r * c->V + j] - mx);
        L += mx + log(s) - x[r * c->V + c->labels[r]];
    }
    return L;
}

static double ce_objd(void *vc, const double *x) {
    ce_ctx *c = vc;
    return c->gs * ce_ref(c, x);
}

static void test_cross_entropy(void) {
    int n = 6, V = 7;
    int32_t labels[6] = {2, -100, 0, 6, -100, 3};
    ce_ctx c = {.n = n, .V = V, .ignore = -100, .labels = labels, .gs = 0.25f};
    float *x = t_randn(n * V, 30, 2.0f);
    /* make row 0 and row 5 correct (argmax == label), row 2 and 3 wrong */
    x[0 * V + 2] = 10.0f, x[5 * V + 3] = 9.0f, x[2 * V + 1] = 8.0f, x[3 * V + 4] = 8.0f;
    x[1 * V + 5] = 1e4f; /* an ignored row with a huge logit changes nothing */
    double *xd = t_to_double(x, n * V);
    double ref = ce_ref(&c, xd);
    float *g = malloc(sizeof(float) * n * V);
    int count = -1, correct = -1;
    double L = be->ops->cross_entropy(be, g, x, labels, n, V, -100, c.gs, &count, &correct);
    T_CLOSE(L, ref, 1e-6, 1e-6, "cross_entropy sum %.9g, reference %.9g", L, ref);
    T_CHECK(count == 4, "cross_entropy count %d, want 4", count);
    T_CHECK(correct == 2, "cross_entropy correct %d, want 2", correct);
    int zero = 1;
    for (int j = 0; j < V; j++) zero &= g[1 * V + j] == 0.0f && g[4 * V + j] == 0.0f;
    T_CHECK(zero, "cross_entropy gradient of ignored rows is not zero");
    x[1 * V + 5] = 0.5f; /* back to a moderate value for finite differences */
    be->ops->cross_entropy(be, g, x, labels, n, V, -100, c.gs, NULL, NULL);
    t_grad_check("cross_entropy dlogits", x, n * V, g, ce_objf, ce_objd, &c);
    /* dlogits may alias logits */
    float *xa = malloc(sizeof(float) * n * V);
    memcpy(xa, x, sizeof(float) * n * V);
    double La = be->ops->cross_entropy(be, xa, xa, labels, n, V, -100, c.gs, NULL, NULL);
    double Lb = be->ops->cross_entropy(be, g, x, labels, n, V, -100, c.gs, NULL, NULL);
    T_CHECK(La == Lb && memcmp(xa, g, sizeof(float) * n * V) == 0, "cross_entropy in place differs");
    /* large vocabulary, parallel path: thread independence and the reference */
    int n2 = 40, V2 = 5000;
    float *x2 = t_randn((size_t)n2 * V2, 31, 3.0f), *g2a = malloc(sizeof(float) * n2 * V2),
          *g2b = malloc(sizeof(float) * n2 * V2);
    int32_t lab2[40];
    for (int r = 0; r < n2; r++) lab2[r] = r % 7 == 0 ? -100 : (r * 131) % V2;
    ce_ctx c2 = {.n = n2, .V = V2, .ignore = -100, .labels = lab2, .gs = 1.0f};
    double *x2d = t_to_double(x2, (size_t)n2 * V2);
    double ref2 = ce_ref(&c2, x2d);
    t_set_threads(&be, 2);
    double L2b = be->ops->cross_entropy(be, g2b, x2, lab2, n2, V2, -100, 1.0f, &count, NULL);
    t_set_threads(&be, 1);
    double L2a = be->ops->cross_entropy(be, g2a, x2, lab2, n2, V2, -100, 1.0f, NULL, NULL);
    T_CLOSE(L2a, ref2, 1e-6, 1e-6, "cross_entropy (V=5000) sum %.9g, reference %.9g", L2a, ref2);
    T_CHECK(count == 34, "cross_entropy (V=5000) count %d, want 34", count);
    T_CHECK(L2a == L2b && memcmp(g2a, g2b, sizeof(float) * n2 * V2) == 0,
            "cross_entropy differs between 1 and 2 threads");
    free(x), free(xd), free(g), free(xa), free(x2), free(g2a), free(g2b), free(x2d);
}

/* ---------- MIM loss ---------- */
typedef struct {
    int n, D;
    const float *target, *mask;
    float gs;
} mim_ctx;

static double mim_objf(void *vc, const float *p) {
    mim_ctx *c = vc;
    return c->gs * be->ops->mim_loss(be, NULL, p, c->target, c->mask, c->n, c->D, c->gs);
}

static double mim_ref(const mim_ctx *c, const double *p) {
    double L = 0;
    for (int r = 0; r < c->n; r++) {
        double s = 0;
        for (int d = 0; d < c->D; d++) s += (p[r * c->D + d] - c->target[r * c->D + d]) * (p[r * c->D + d] - c->target[r * c->D + d]);
        L += c->mask[r] * s / c->D;
    }
    return L;
}

static double mim_objd(void *vc, const double *p) {
    mim_ctx *c = vc;
    return c->gs * mim_ref(c, p);
}

static void test_mim(void) {
    int n = 5, D = 12;
    float mask[5] = {1, 0, 1, 1, 0};
    float *p = t_randn(n * D, 40, 1.0f), *t = t_randn(n * D, 41, 1.0f), *g = malloc(sizeof(float) * n * D);
    mim_ctx c = {.n = n, .D = D, .target = t, .mask = mask, .gs = 1.0f / 3.0f};
    double *pd = t_to_double(p, n * D);
    double L = be->ops->mim_loss(be, g, p, t, mask, n, D, c.gs), ref = mim_ref(&c, pd);
    T_CLOSE(L, ref, 1e-7, 1e-6, "mim_loss sum %.9g, reference %.9g", L, ref);
    int zero = 1;
    for (int d = 0; d < D; d++) zero &= g[1 * D + d] == 0.0f && g[4 * D + d] == 0.0f;
    T_CHECK(zero, "mim_loss gradient of unmasked rows is not zero");
    t_grad_check("mim_loss dpred", p, n * D, g, mim_objf, mim_objd, &c);
    free(p), free(t), free(g), free(pd);
}

int main(void) {
    t_set_threads(&be, 1);
    test_embedding();
    test_embedding_padding_idx();
    test_gather();
    test_patchify();
    test_cross_entropy();
    test_mim();
    return t_done("test_ops_gather_loss");
}
