/* The backend conformance harness (in the manner of ggml's test-backend-ops): a table of every entry
 * of model/backend.h, one row per op and shape case, run on every backend of a list on fresh random
 * inputs and compared with the reference backend ("cpu" on 1 thread):
 *   - by normalised mean squared error  sum (x - ref)^2 / sum ref^2  <= the row's tolerance;
 *   - bitwise for the CPU thread variants (the CPU backend's results do not depend on the thread
 *     count).
 * A backend that cannot be opened (no CUDA backend in this build, no device) reports its rows
 * SKIPPED with the reason. Exit 0 when every row that ran agrees, 1 on a disagreement, 77 only if no
 * row could run. The finite-difference and double-reference checks of each op are in the other
 * test_ops_*.c programs (on the CPU).
 *
 * Inputs are generated on the host from a seed (M3AE_TEST_SEED, default a fixed one) and the case
 * index, uploaded to the backend, and the outputs downloaded: every backend sees the same inputs. */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "harness.h"
#include "model/backend.h"

/* ---- one run of a case on one backend: inputs in, outputs out ---- */

#define MAX_BUFS 16
typedef struct {
    m3ae_backend *be;
    m3ae_rng rng;
    uint64_t k;           /* next random word */
    void *bufs[MAX_BUFS]; /* backend buffers of this run */
    int nbufs;
    double *out;          /* outputs, concatenated (host) */
    size_t nout, cap;
} run_ctx;

static void *b_alloc(run_ctx *r, size_t bytes) {
    void *p = r->be->ops->alloc(r->be, bytes ? bytes : 4, "conformance buffer");
    if (r->nbufs >= MAX_BUFS) {
        fprintf(stderr, "test_backend_ops: more than %d buffers in one case\n", MAX_BUFS);
        exit(1);
    }
    r->bufs[r->nbufs++] = p;
    return p;
}

/* a backend tensor of n N(0, scale^2) floats (plus offset) */
static float *in_randn(run_ctx *r, size_t n, float scale, float offset) {
    float *h = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) h[i] = offset + scale * m3ae_rng_normal(&r->rng, r->k++);
    float *d = b_alloc(r, n * sizeof(float));
    r->be->ops->upload(r->be, d, h, n * sizeof(float));
    r->be->ops->sync(r->be);
    free(h);
    return d;
}

/* a backend array of n ints uniform in [lo, hi) */
static int32_t *in_ids(run_ctx *r, size_t n, int lo, int hi) {
    int32_t *h = malloc((n ? n : 1) * sizeof(int32_t));
    for (size_t i = 0; i < n; i++) h[i] = lo + (int32_t)m3ae_rng_below(&r->rng, r->k++, (uint32_t)(hi - lo));
    int32_t *d = b_alloc(r, n * sizeof(int32_t));
    r->be->ops->upload(r->be, d, h, n * sizeof(int32_t));
    r->be->ops->sync(r->be);
    free(h);
    return d;
}

/* a backend copy of host data */
static void *in_host(run_ctx *r, const void *h, size_t bytes) {
    void *d = b_alloc(r, bytes);
    r->be->ops->upload(r->be, d, h, bytes);
    r->be->ops->sync(r->be);
    return d;
}

static float *zeros(run_ctx *r, size_t n) { return b_alloc(r, n * sizeof(float)); }

static void out_push(run_ctx *r, double v) {
    if (r->nout == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 1024;
        r->out = realloc(r->out, r->cap * sizeof(double));
    }
    r->out[r->nout++] = v;
}

static void out_tensor(run_ctx *r, const float *d, size_t n) {
    float *h = malloc((n ? n : 1) * sizeof(float));
    r->be->ops->download(r->be, h, d, n * sizeof(float));
    r->be->ops->sync(r->be);
    for (size_t i = 0; i < n; i++) out_push(r, h[i]);
    free(h);
}

/* ---- the cases ---- */

typedef struct op_case op_case;
struct op_case {
    const char *op;
    int s[8];         /* shape parameters, meaning per op */
    double tol;       /* NMSE tolerance against the reference */
    void (*run)(run_ctx *r, const op_case *c);
};

static m3ae_dropout drop_of(run_ctx *r, float p, int B) {
    int64_t ids[64];
    for (int b = 0; b < B && b < 64; b++) ids[b] = 1000 + 37 * b;
    m3ae_dropout d = {.p = p, .seed = 5, .step = 3, .site = 17, .sample_ids = in_host(r, ids, sizeof(int64_t) * 64)};
    return d;
}

static void run_elementwise(run_ctx *r, const op_case *c) {
    const m3ae_backend_ops *o = r->be->ops;
    m3ae_backend *be = r->be;
    const size_t n = (size_t)c->s[0];
    float *x = in_randn(r, n, 1.0f, 0), *y = in_randn(r, n, 1.0f, 0);
    if (!strcmp(c->op, "zero")) o->zero(be, y, n);
    else if (!strcmp(c->op, "copy")) o->copy(be, y, x, n);
    else if (!strcmp(c->op, "add_inplace")) o->add_inplace(be, y, x, n);
    else if (!strcmp(c->op, "scale")) o->scale(be, y, 0.37f, n);
    out_tensor(r, y, n);
}

static void run_copy_rows(run_ctx *r, const op_case *c) {
    const int rows = c->s[0], cols = c->s[1], lds = c->s[2], ldd = c->s[3];
    float *src = in_randn(r, (size_t)rows * lds, 1, 0), *dst = in_randn(r, (size_t)rows * ldd, 1, 0);
    r->be->ops->copy_rows(r->be, dst, ldd, src, lds, rows, cols);
    out_tensor(r, dst, (size_t)rows * ldd);
}

static void run_gemm(run_ctx *r, const op_case *c) {
    const int M = c->s[0], N = c->s[1], K = c->s[2], tA = c->s[3], tB = c->s[4];
    const int lda = tA ? M : K, ldb = tB ? K : N;
    float *A = in_randn(r, (size_t)M * K, 1, 0), *B = in_randn(r, (size_t)K * N, 1, 0);
    float *C = in_randn(r, (size_t)M * N, 1, 0);
    r->be->ops->gemm(r->be, tA, tB, M, N, K, 0.7f, A, lda, B, ldb, 0.5f, C, N);
    out_tensor(r, C, (size_t)M * N);
}

static void run_linear_forward(run_ctx *r, const op_case *c) {
    const int n = c->s[0], in = c->s[1], out = c->s[2], bias = c->s[3];
    float *x = in_randn(r, (size_t)n * in, 1, 0), *W = in_randn(r, (size_t)out * in, 0.1f, 0);
    float *b = bias ? in_randn(r, (size_t)out, 1, 0) : NULL, *y = zeros(r, (size_t)n * out);
    r->be->ops->linear_forward(r->be, y, x, W, b, n, in, out);
    out_tensor(r, y, (size_t)n * out);
}

static void run_linear_backward(run_ctx *r, const op_case *c) {
    const int n = c->s[0], in = c->s[1], out = c->s[2], acc = c->s[3];
    float *x = in_randn(r, (size_t)n * in, 1, 0), *W = in_randn(r, (size_t)out * in, 0.1f, 0);
    float *dy = in_randn(r, (size_t)n * out, 1, 0), *dx = in_randn(r, (size_t)n * in, 1, 0);
    float *dW = in_randn(r, (size_t)out * in, 1, 0), *db = in_randn(r, (size_t)out, 1, 0);
    r->be->ops->linear_backward(r->be, dx, dW, db, dy, x, W, n, in, out, acc);
    out_tensor(r, dx, (size_t)n * in);
    out_tensor(r, dW, (size_t)out * in);
    out_tensor(r, db, (size_t)out);
}

static void run_layernorm_forward(run_ctx *r, const op_case *c) {
    const int n = c->s[0], C = c->s[1];
    float *x = in_randn(r, (size_t)n * C, 2, 0.5f), *g = in_randn(r, C, 0.3f, 1), *b = in_randn(r, C, 0.3f, 0);
    float *y = zeros(r, (size_t)n * C), *mean = zeros(r, n), *rstd = zeros(r, n);
    r->be->ops->layernorm_forward(r->be, y, mean, rstd, x, g, b, n, C, 1e-5f);
    out_tensor(r, y, (size_t)n * C);
    out_tensor(r, mean, n);
    out_tensor(r, rstd, n);
}

static void run_layernorm_backward(run_ctx *r, const op_case *c) {
    const int n = c->s[0], C = c->s[1], acc = c->s[2];
    float *x = in_randn(r, (size_t)n * C, 2, 0.5f), *g = in_randn(r, C, 0.3f, 1), *b = in_randn(r, C, 0.3f, 0);
    float *y = zeros(r, (size_t)n * C), *mean = zeros(r, n), *rstd = zeros(r, n);
    r->be->ops->layernorm_forward(r->be, y, mean, rstd, x, g, b, n, C, 1e-5f);
    float *dy = in_randn(r, (size_t)n * C, 1, 0), *dx = in_randn(r, (size_t)n * C, 1, 0);
    float *dg = in_randn(r, C, 1, 0), *db = in_randn(r, C, 1, 0);
    r->be->ops->layernorm_backward(r->be, dx, dg, db, dy, x, mean, rstd, g, n, C, acc);
    out_tensor(r, dx, (size_t)n * C);
    out_tensor(r, dg, C);
    out_tensor(r, db, C);
}

static void run_activation(run_ctx *r, const op_case *c) {
    const m3ae_backend_ops *o = r->be->ops;
    m3ae_backend *be = r->be;
    const size_t n = (size_t)c->s[0];
    const int backward = c->s[1];
    float *x = in_randn(r, n, 2, 0), *dy = in_randn(r, n, 1, 0), *y = zeros(r, n);
    if (!strncmp(c->op, "gelu", 4)) {
        if (backward) o->gelu_backward(be, y, dy, x, n);
        else o->gelu_forward(be, y, x, n);
    } else if (!strncmp(c->op, "quickgelu", 9)) {
        if (backward) o->quickgelu_backward(be, y, dy, x, n);
        else o->quickgelu_forward(be, y, x, n);
    } else {
        if (backward) {
            o->tanh_forward(be, y, x, n);
            o->tanh_backward(be, y, dy, y, n);
        } else {
            o->tanh_forward(be, y, x, n);
        }
    }
    out_tensor(r, y, n);
}

static void run_dropout(run_ctx *r, const op_case *c) {
    const int B = c->s[0], per_row = c->s[1], backward = c->s[2];
    m3ae_dropout d = drop_of(r, 0.1f, B);
    float *x = in_randn(r, (size_t)B * per_row, 1, 0), *y = zeros(r, (size_t)B * per_row);
    if (backward) r->be->ops->dropout_backward(r->be, y, x, B, (size_t)per_row, &d);
    else r->be->ops->dropout_forward(r->be, y, x, B, (size_t)per_row, &d);
    out_tensor(r, y, (size_t)B * per_row);
}

static void run_attention(run_ctx *r, const op_case *c) {
    const int B = c->s[0], Tq = c->s[1], Tk = c->s[2], H = c->s[3], hd = c->s[4], masked = c->s[5];
    const int drop = c->s[6], backward = c->s[7], W = H * hd;
    m3ae_backend *be = r->be;
    m3ae_dropout d = drop_of(r, 0.1f, B);
    const m3ae_dropout *dp = drop ? &d : NULL;
    float *q = in_randn(r, (size_t)B * Tq * W, 1, 0), *k = in_randn(r, (size_t)B * Tk * W, 1, 0);
    float *v = in_randn(r, (size_t)B * Tk * W, 1, 0), *mask = NULL;
    if (masked) {
        float *hm = malloc(sizeof(float) * B * Tk);
        for (int b = 0; b < B; b++)
            for (int j = 0; j < Tk; j++) hm[b * Tk + j] = j >= Tk - b ? -10000.0f : 0.0f;
        mask = in_host(r, hm, sizeof(float) * B * Tk);
        free(hm);
    }
    const size_t np = (size_t)B * H * Tq * Tk;
    float *out = zeros(r, (size_t)B * Tq * W), *probs = zeros(r, np);
    const float scale = 1.0f / sqrtf((float)hd);
    be->ops->attention_forward(be, out, W, probs, q, W, k, W, v, W, mask, B, Tq, Tk, H, hd, scale, dp);
    if (!backward) {
        out_tensor(r, out, (size_t)B * Tq * W);
        out_tensor(r, probs, np);
        return;
    }
    float *dout = in_randn(r, (size_t)B * Tq * W, 1, 0), *scratch = zeros(r, np);
    float *dq = zeros(r, (size_t)B * Tq * W), *dk = zeros(r, (size_t)B * Tk * W), *dv = zeros(r, (size_t)B * Tk * W);
    be->ops->attention_backward(be, dq, dk, dv, scratch, dout, W, probs, q, W, k, W, v, W, B, Tq, Tk, H, hd, scale, dp);
    out_tensor(r, dq, (size_t)B * Tq * W);
    out_tensor(r, dk, (size_t)B * Tk * W);
    out_tensor(r, dv, (size_t)B * Tk * W);
}

static void run_embedding(run_ctx *r, const op_case *c) {
    const int n = c->s[0], V = c->s[1], C = c->s[2], backward = c->s[3], pad = c->s[4];
    int32_t *ids = in_ids(r, (size_t)n, 0, V);
    float *table = in_randn(r, (size_t)V * C, 1, 0);
    if (!backward) {
        float *y = zeros(r, (size_t)n * C);
        r->be->ops->embedding_forward(r->be, y, ids, table, n, C);
        out_tensor(r, y, (size_t)n * C);
        return;
    }
    float *dy = in_randn(r, (size_t)n * C, 1, 0);
    r->be->ops->embedding_backward(r->be, table, dy, ids, n, C, pad);
    out_tensor(r, table, (size_t)V * C);
}

static void run_gather(run_ctx *r, const op_case *c) {
    const int B = c->s[0], Tin = c->s[1], Tout = c->s[2], C = c->s[3], backward = c->s[4];
    int32_t *idx = in_ids(r, (size_t)B * Tout, 0, Tin);
    if (!backward) {
        float *x = in_randn(r, (size_t)B * Tin * C, 1, 0), *y = zeros(r, (size_t)B * Tout * C);
        r->be->ops->gather_rows(r->be, y, x, idx, B, Tin, Tout, C);
        out_tensor(r, y, (size_t)B * Tout * C);
        return;
    }
    float *dy = in_randn(r, (size_t)B * Tout * C, 1, 0), *dx = in_randn(r, (size_t)B * Tin * C, 1, 0);
    r->be->ops->gather_rows_backward(r->be, dx, dy, idx, B, Tin, Tout, C);
    out_tensor(r, dx, (size_t)B * Tin * C);
}

static void run_patchify(run_ctx *r, const op_case *c) {
    const int B = c->s[0], S = c->s[1], P = c->s[2], cl = c->s[3], np = (S / P) * (S / P);
    float *img = in_randn(r, (size_t)B * 3 * S * S, 1, 0), *p = zeros(r, (size_t)B * np * 3 * P * P);
    r->be->ops->patchify(r->be, p, img, B, S, S, P, cl);
    out_tensor(r, p, (size_t)B * np * 3 * P * P);
}

static void run_cross_entropy(run_ctx *r, const op_case *c) {
    const int n = c->s[0], V = c->s[1];
    float *x = in_randn(r, (size_t)n * V, 3, 0), *g = zeros(r, (size_t)n * V);
    int32_t *hl = malloc(sizeof(int32_t) * n);
    for (int i = 0; i < n; i++) hl[i] = i % 5 == 3 ? -100 : (int32_t)((i * 131 + 7) % V);
    int32_t *labels = in_host(r, hl, sizeof(int32_t) * n);
    free(hl);
    int count = -1, correct = -1;
    double L = r->be->ops->cross_entropy(r->be, g, x, labels, n, V, -100, 0.25f, &count, &correct);
    out_push(r, L);
    out_push(r, count);
    out_push(r, correct);
    out_tensor(r, g, (size_t)n * V);
}

static void run_patch_normalize(run_ctx *r, const op_case *c) {
    const int n = c->s[0], D = c->s[1];
    float *t = in_randn(r, (size_t)n * D, 2, 1);
    r->be->ops->patch_normalize(r->be, t, n, D, 1e-6f);
    out_tensor(r, t, (size_t)n * D);
}

static void run_mim_loss(run_ctx *r, const op_case *c) {
    const int n = c->s[0], D = c->s[1];
    float *p = in_randn(r, (size_t)n * D, 1, 0), *t = in_randn(r, (size_t)n * D, 1, 0), *g = zeros(r, (size_t)n * D);
    float *hm = malloc(sizeof(float) * n);
    for (int i = 0; i < n; i++) hm[i] = (float)(i % 3 != 0);
    float *mask = in_host(r, hm, sizeof(float) * n);
    free(hm);
    double L = r->be->ops->mim_loss(r->be, g, p, t, mask, n, D, 0.125f);
    out_push(r, L);
    out_tensor(r, g, (size_t)n * D);
}

static void run_adamw(run_ctx *r, const op_case *c) {
    const size_t n = (size_t)c->s[0];
    float *p = in_randn(r, n, 0.5f, 0), *g = in_randn(r, n, 0.1f, 0), *m = in_randn(r, n, 0.01f, 0);
    float *v = in_randn(r, n, 0.001f, 0.01f); /* v > 0 (10 standard deviations) */
    m3ae_adamw_args a = {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.98, .eps = 1e-8, .weight_decay = c->s[1] ? 0.01 : 0,
                         .bias_correction1 = 1 - pow(0.9, 3), .bias_correction2 = 1 - pow(0.98, 3), .grad_scale = 0.5f};
    r->be->ops->adamw(r->be, p, g, m, v, n, &a);
    out_tensor(r, p, n);
    out_tensor(r, m, n);
    out_tensor(r, v, n);
}

static void run_sq_norm(run_ctx *r, const op_case *c) {
    const size_t n = (size_t)c->s[0];
    float *x = in_randn(r, n, 1, 0);
    out_push(r, r->be->ops->sq_norm(r->be, x, n));
}

static void run_memory(run_ctx *r, const op_case *c) {
    /* upload, download, events: a recorded event is complete after event_wait */
    const size_t n = (size_t)c->s[0];
    m3ae_backend *be = r->be;
    float *x = in_randn(r, n, 1, 0), *y = zeros(r, n);
    m3ae_event *ev = be->ops->event_create(be);
    be->ops->copy(be, y, x, n);
    be->ops->event_record(be, ev);
    be->ops->event_wait(be, ev);
    be->ops->event_destroy(be, ev);
    out_tensor(r, y, n);
}

#define F32 1e-7  /* NMSE tolerance of float32 ops (ggml's default) */
#define EXACT 0.0 /* copies and gathers move values */

static const op_case cases[] = {
    {"memory+events", {1000}, EXACT, run_memory},
    {"zero", {70000}, EXACT, run_elementwise},
    {"copy", {70000}, EXACT, run_elementwise},
    {"add_inplace", {70000}, F32, run_elementwise},
    {"scale", {1000}, F32, run_elementwise},
    {"copy_rows", {37, 20, 33, 41}, EXACT, run_copy_rows},
    {"gemm", {17, 13, 9, 0, 0}, F32, run_gemm},
    {"gemm", {17, 13, 9, 1, 0}, F32, run_gemm},
    {"gemm", {17, 13, 9, 0, 1}, F32, run_gemm},
    {"gemm", {17, 13, 9, 1, 1}, F32, run_gemm},
    {"gemm", {600, 300, 200, 0, 1}, F32, run_gemm},
    {"gemm", {64, 2100, 96, 1, 0}, F32, run_gemm},
    {"linear_forward", {33, 24, 40, 1}, F32, run_linear_forward},
    {"linear_forward", {520, 64, 48, 0}, F32, run_linear_forward},
    {"linear_backward", {33, 24, 40, 0}, F32, run_linear_backward},
    {"linear_backward", {520, 64, 48, 1}, F32, run_linear_backward},
    {"layernorm_forward", {31, 24}, F32, run_layernorm_forward},
    {"layernorm_forward", {2100, 96}, F32, run_layernorm_forward},
    {"layernorm_backward", {31, 24, 0}, F32, run_layernorm_backward},
    {"layernorm_backward", {2100, 96, 1}, F32, run_layernorm_backward},
    {"gelu_forward", {70001, 0}, F32, run_activation},
    {"gelu_backward", {70001, 1}, F32, run_activation},
    {"quickgelu_forward", {70001, 0}, F32, run_activation},
    {"quickgelu_backward", {70001, 1}, F32, run_activation},
    {"tanh_forward", {1001, 0}, F32, run_activation},
    {"tanh_backward", {1001, 1}, F32, run_activation},
    {"dropout_forward", {3, 20000, 0}, EXACT, run_dropout},
    {"dropout_backward", {3, 20000, 1}, EXACT, run_dropout},
    {"attention_forward", {2, 7, 7, 2, 8, 0, 0, 0}, F32, run_attention},
    {"attention_forward", {3, 9, 13, 4, 16, 1, 0, 0}, F32, run_attention},
    {"attention_forward", {3, 40, 40, 4, 16, 1, 1, 0}, F32, run_attention},
    {"attention_backward", {2, 7, 7, 2, 8, 0, 0, 1}, F32, run_attention},
    {"attention_backward", {3, 9, 13, 4, 16, 1, 0, 1}, F32, run_attention},
    {"attention_backward", {3, 40, 40, 4, 16, 1, 1, 1}, F32, run_attention},
    {"embedding_forward", {50, 30, 70, 0, -1}, EXACT, run_embedding},
    {"embedding_backward", {50, 30, 70, 1, -1}, F32, run_embedding},
    {"embedding_backward", {600, 7, 130, 1, 1}, F32, run_embedding},
    {"gather_rows", {3, 10, 6, 40, 0}, EXACT, run_gather},
    {"gather_rows_backward", {3, 10, 6, 40, 1}, F32, run_gather},
    {"gather_rows_backward", {4, 300, 200, 64, 1}, F32, run_gather},
    {"patchify", {2, 16, 4, 0}, EXACT, run_patchify},
    {"patchify", {2, 16, 4, 1}, EXACT, run_patchify},
    {"cross_entropy", {9, 11}, F32, run_cross_entropy},
    {"cross_entropy", {40, 5000}, F32, run_cross_entropy},
    {"patch_normalize", {30, 48}, F32, run_patch_normalize},
    {"mim_loss", {30, 48}, F32, run_mim_loss},
    {"adamw", {1000, 1}, F32, run_adamw},
    {"adamw", {70000, 0}, F32, run_adamw},
    {"sq_norm", {1000}, F32, run_sq_norm},
    {"sq_norm", {300000}, F32, run_sq_norm},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

/* What the shape numbers of each kind of case mean (printed in the table's legend). */
static const struct {
    void (*run)(run_ctx *, const op_case *);
    int n;
    const char *legend;
} shape_legend[] = {
    {run_memory, 1, "n"},
    {run_elementwise, 1, "n"},
    {run_copy_rows, 4, "rows,cols,ld_src,ld_dst"},
    {run_gemm, 5, "M,N,K,transA,transB"},
    {run_linear_forward, 4, "n,in,out,bias"},
    {run_linear_backward, 4, "n,in,out,accumulate"},
    {run_layernorm_forward, 2, "n,C"},
    {run_layernorm_backward, 3, "n,C,accumulate"},
    {run_activation, 1, "n"},
    {run_dropout, 2, "B,per_row"},
    {run_attention, 7, "B,Tq,Tk,H,hd,mask,dropout"},
    {run_embedding, 3, "n,V,C[,padding_idx]"},
    {run_gather, 4, "B,Tin,Tout,C"},
    {run_patchify, 4, "B,S,P,channel_last"},
    {run_cross_entropy, 2, "n,V"},
    {run_patch_normalize, 2, "n,D"},
    {run_mim_loss, 2, "n,D"},
    {run_adamw, 2, "n,decay"},
    {run_sq_norm, 1, "n"},
};

static void shape_of(const op_case *c, char *buf, size_t n) {
    int k = 1;
    for (size_t i = 0; i < sizeof shape_legend / sizeof shape_legend[0]; i++)
        if (shape_legend[i].run == c->run) k = shape_legend[i].n;
    if (c->run == run_embedding && c->s[3]) k = 5; /* backward: the padding_idx too */
    size_t len = 0;
    for (int i = 0; i < k && len < n; i++) len += (size_t)snprintf(buf + len, n - len, "%s%d", i ? "," : "", c->s[i]);
}

/* ---- the backends under test ---- */

typedef struct {
    const char *label; /* column header */
    const char *name;  /* m3ae_backend_open name */
    int threads;
    int bitwise; /* must equal the reference bit for bit (CPU thread variants) */
    m3ae_backend *be;
    char why[256]; /* the reason it is skipped */
} variant;

static void run_case(variant *v, int ci, uint64_t seed, run_ctx *r) {
    memset(r, 0, sizeof *r);
    r->be = v->be;
    r->rng = m3ae_rng_make(seed, 4242, (uint64_t)ci, 0);
    if (v->threads > 0) m3ae_backend_set_threads(v->be, v->threads);
    cases[ci].run(r, &cases[ci]);
    for (int i = 0; i < r->nbufs; i++) v->be->ops->free(v->be, r->bufs[i]);
}

static double nmse(const double *x, const double *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = x[i] - ref[i];
        num += d * d;
        den += ref[i] * ref[i];
    }
    if (isnan(num)) return INFINITY;
    return den > 0 ? num / den : num;
}

int main(void) {
    const char *s = getenv("M3AE_TEST_SEED");
    const uint64_t seed = s ? strtoull(s, NULL, 10) : 20261201u;
    variant vs[] = {
        {"cpu/1 (ref)", "cpu", 1, 1, NULL, ""},
        {"cpu/2", "cpu", 2, 1, NULL, ""},
        {"cuda", "cuda", 0, 0, NULL, ""},
    };
    const int nv = (int)(sizeof vs / sizeof vs[0]);
    for (int i = 0; i < nv; i++) {
        m3ae_error err;
        m3ae_backend_options o = {.threads = vs[i].threads, .device = 0, .act_dtype = M3AE_DTYPE_F32};
        vs[i].be = m3ae_backend_open(vs[i].name, &o, &err);
        if (!vs[i].be) snprintf(vs[i].why, sizeof vs[i].why, "%s", err.msg);
        else m3ae_backend_reserve_workspace(vs[i].be, (size_t)32 << 20); /* covers every case below */
    }
    printf("backend conformance, seed %" PRIu64 ", reference %s; NMSE against the reference (bitwise for %s)\n", seed,
           vs[0].label, vs[1].label);
    for (int i = 1; i < nv; i++)
        if (!vs[i].be) printf("  %s: SKIPPED: %s\n", vs[i].label, vs[i].why);
    printf("shapes:");
    for (size_t i = 0; i < sizeof shape_legend / sizeof shape_legend[0]; i++) {
        int seen = 0;
        for (size_t j = 0; j < i; j++) seen |= !strcmp(shape_legend[j].legend, shape_legend[i].legend);
        if (!seen && strcmp(shape_legend[i].legend, "n")) printf(" (%s)", shape_legend[i].legend);
    }
    printf(" or (n)\n");
    printf("%-20s %-26s", "op", "shape");
    for (int i = 1; i < nv; i++) printf(" %-18s", vs[i].label);
    printf("\n");
    if (!vs[0].be) {
        printf("the reference backend cannot open: %s\n", vs[0].why);
        return 77;
    }
    /* refusals are clear errors, not crashes */
    {
        m3ae_error err;
        m3ae_backend *x = m3ae_backend_open("cpu", &(m3ae_backend_options){.act_dtype = M3AE_DTYPE_BF16}, &err);
        T_CHECK(x == NULL && strstr(err.msg, "bf16") && strstr(err.msg, "f32"), "cpu backend with bf16: %s",
                x ? "opened" : err.msg);
        x = m3ae_backend_open("tpu", NULL, &err);
        T_CHECK(x == NULL && strstr(err.msg, "unknown backend 'tpu'") && strstr(err.msg, "cpu, cuda"), "tpu: %s",
                x ? "opened" : err.msg);
        if (!vs[2].be)
            T_CHECK(strstr(vs[2].why, "device=cuda") && strstr(vs[2].why, "use device=cpu"), "cuda refusal: %s", vs[2].why);
    }
    int ran = 0, failed = 0;
    for (int ci = 0; ci < N_CASES; ci++) {
        const op_case *c = &cases[ci];
        char shape[64];
        shape_of(c, shape, sizeof shape);
        run_ctx ref;
        run_case(&vs[0], ci, seed, &ref);
        printf("%-20s %-26s", c->op, shape);
        for (int i = 1; i < nv; i++) {
            char cell[64];
            if (!vs[i].be) {
                snprintf(cell, sizeof cell, "SKIPPED");
            } else {
                run_ctx r;
                run_case(&vs[i], ci, seed, &r);
                ran++;
                int same_n = r.nout == ref.nout;
                double e = same_n ? nmse(r.out, ref.out, ref.nout) : INFINITY;
                int ok = same_n && e <= c->tol;
                if (vs[i].bitwise) {
                    ok = same_n && memcmp(r.out, ref.out, ref.nout * sizeof(double)) == 0;
                    snprintf(cell, sizeof cell, "%s", ok ? "OK bitwise" : "FAIL not bitwise");
                } else {
                    snprintf(cell, sizeof cell, "%s %.1e", ok ? "OK" : "FAIL", e);
                }
                T_CHECK(ok, "%s (%s) on %s: NMSE %.3g (tolerance %.1e)%s", c->op, shape, vs[i].label, e, c->tol,
                        vs[i].bitwise ? ", must be bitwise equal" : "");
                failed += !ok;
                free(r.out);
            }
            printf(" %-18s", cell);
        }
        printf("\n");
        /* the reference itself must produce finite, non-trivial outputs (a vacuous row proves nothing) */
        int finite = ref.nout > 0;
        double mag = 0;
        for (size_t k = 0; k < ref.nout; k++) finite &= isfinite(ref.out[k]), mag += fabs(ref.out[k]);
        T_CHECK(finite && (mag > 0 || !strcmp(c->op, "zero")), "%s (%s): reference outputs are %s", c->op, shape,
                finite ? "all zero" : "not finite");
        free(ref.out);
    }
    for (int i = 0; i < nv; i++) m3ae_backend_close(vs[i].be);
    printf("%d cases x %d backends: %d rows ran, %d failed, %d skipped\n", N_CASES, nv - 1, ran, failed,
           N_CASES * (nv - 1) - ran);
    if (ran == 0) {
        printf("SKIPPED: no backend besides the reference could run\n");
        return 77;
    }
    return t_done("test_backend_ops");
}
