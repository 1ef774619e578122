/* CPU ops: multi-head attention forward/backward against a double reference and finite
 * differences: self- and cross-attention, additive key mask, separate and fused (B,T,3W) q/k/v
 * layouts with row strides, attention-probability dropout (mask index (h*Tq + i)*Tk + j of
 * sample b), and thread-count independence. */
#include "ops_test_util.h"

static m3ae_backend *be;

typedef struct {
    int B, Tq, Tk, H, hd, fused;
    int ldq, ldk, ldv, ldo;
    size_t qoff, koff, voff;            /* offsets of q, k, v in their buffers */
    float *qbuf, *kbuf, *vbuf;          /* the same buffer when fused */
    size_t qn, kn, vn;                  /* buffer sizes */
    const float *key_mask;              /* (B,Tk) or NULL */
    const m3ae_dropout *d;              /* or NULL */
    float scale;
    int which;                          /* buffer perturbed: 0 q, 1 k, 2 v (fused: the one buffer) */
    float *w;                           /* objective weights (B,Tq,ldo) */
} att_ctx;

static void att_bufs(const att_ctx *c, const float *xv, const float **q, const float **k, const float **v) {
    const float *b[3] = {c->qbuf, c->kbuf, c->vbuf};
    if (c->fused) b[0] = b[1] = b[2] = xv;
    else b[c->which] = xv;
    *q = b[0] + c->qoff, *k = b[1] + c->koff, *v = b[2] + c->voff;
}

static size_t out_n(const att_ctx *c) { return (size_t)c->B * c->Tq * c->ldo; }

static double att_objf(void *vc, const float *xv) {
    att_ctx *c = vc;
    const float *q, *k, *v;
    att_bufs(c, xv, &q, &k, &v);
    float *out = calloc(out_n(c), sizeof(float));
    float *probs = malloc(sizeof(float) * c->B * c->H * c->Tq * c->Tk);
    be->ops->attention_forward(be, out, c->ldo, probs, q, c->ldq, k, c->ldk, v, c->ldv, c->key_mask, c->B, c->Tq, c->Tk, c->H,
                           c->hd, c->scale, c->d);
    double L = 0;
    for (size_t i = 0; i < out_n(c); i++) L += (double)c->w[i] * out[i];
    free(out), free(probs);
    return L;
}

/* double reference: out (B,Tq,ldo) and probs (B,H,Tq,Tk); q/k/v with their strides */
static void att_ref(const att_ctx *c, const double *q, const double *k, const double *v, double *out, double *probs) {
    int Tq = c->Tq, Tk = c->Tk, hd = c->hd;
    double *s = malloc(sizeof(double) * Tk);
    for (int b = 0; b < c->B; b++)
        for (int h = 0; h < c->H; h++) {
            m3ae_rng r;
            if (c->d) r = m3ae_rng_make(c->d->seed, M3AE_RNG_DROPOUT + c->d->site, c->d->step, (uint64_t)c->d->sample_ids[b]);
            for (int i = 0; i < Tq; i++) {
                double mx = -INFINITY;
                for (int j = 0; j < Tk; j++) {
                    double dot = 0;
                    for (int e = 0; e < hd; e++)
                        dot += q[((size_t)b * Tq + i) * c->ldq + h * hd + e] * k[((size_t)b * Tk + j) * c->ldk + h * hd + e];
                    s[j] = dot * c->scale + (c->key_mask ? c->key_mask[b * Tk + j] : 0.0);
                    mx = fmax(mx, s[j]);
                }
                double sum = 0;
                for (int j = 0; j < Tk; j++) sum += (s[j] = exp(s[j] - mx));
                for (int j = 0; j < Tk; j++) {
                    s[j] /= sum;
                    if (probs) probs[(((size_t)b * c->H + h) * Tq + i) * Tk + j] = s[j];
                    if (c->d) {
                        float u = m3ae_rng_uniform(&r, ((uint64_t)h * Tq + i) * Tk + j);
                        s[j] = u >= c->d->p ? s[j] / (1.0 - c->d->p) : 0.0;
                    }
                }
                for (int e = 0; e < hd; e++) {
                    double acc = 0;
                    for (int j = 0; j < Tk; j++) acc += s[j] * v[((size_t)b * Tk + j) * c->ldv + h * hd + e];
                    out[((size_t)b * Tq + i) * c->ldo + h * hd + e] = acc;
                }
            }
        }
    free(s);
}

static double att_objd(void *vc, const double *xv) {
    att_ctx *c = vc;
    double *b[3];
    float *fb[3] = {c->qbuf, c->kbuf, c->vbuf};
    size_t nb[3] = {c->qn, c->kn, c->vn};
    for (int i = 0; i < 3; i++) b[i] = (c->fused || i == c->which) ? (double *)xv : t_to_double(fb[i], nb[i]);
    double *out = calloc(out_n(c), sizeof(double));
    att_ref(c, b[0] + c->qoff, b[1] + c->koff, b[2] + c->voff, out, NULL);
    double L = 0;
    for (size_t i = 0; i < out_n(c); i++) L += c->w[i] * out[i];
    for (int i = 0; i < 3; i++)
        if (!(c->fused || i == c->which)) free(b[i]);
    free(out);
    return L;
}

/* Forward vs reference, then gradient checks of every input buffer. */
static void run_case(const char *name, att_ctx *c) {
    size_t pn = (size_t)c->B * c->H * c->Tq * c->Tk;
    c->w = t_randn(out_n(c), 200, 1.0f);
    for (int t = 0; t < c->B * c->Tq; t++) /* columns beyond H*hd are not outputs */
        for (int j = c->H * c->hd; j < c->ldo; j++) c->w[(size_t)t * c->ldo + j] = 0.0f;
    /* forward */
    float *out = calloc(out_n(c), sizeof(float)), *probs = malloc(sizeof(float) * pn);
    for (size_t i = 0; i < out_n(c); i++) out[i] = 7.0f; /* padding columns must stay untouched */
    be->ops->attention_forward(be, out, c->ldo, probs, c->qbuf + c->qoff, c->ldq, c->kbuf + c->koff, c->ldk, c->vbuf + c->voff,
                           c->ldv, c->key_mask, c->B, c->Tq, c->Tk, c->H, c->hd, c->scale, c->d);
    double *qd = t_to_double(c->qbuf, c->qn), *kd = t_to_double(c->kbuf, c->kn), *vd = t_to_double(c->vbuf, c->vn);
    double *ref = malloc(sizeof(double) * out_n(c)), *pref = malloc(sizeof(double) * pn);
    for (size_t i = 0; i < out_n(c); i++) ref[i] = 7.0;
    att_ref(c, qd + c->qoff, kd + c->koff, vd + c->voff, ref, pref);
    double e = t_rel_err(out, ref, out_n(c)), ep = t_rel_err(probs, pref, pn);
    T_CHECK(e < 1e-5, "%s: attention output rel err %.3g", name, e);
    T_CHECK(ep < 1e-5, "%s: attention probs rel err %.3g", name, ep);
    if (c->key_mask) {
        double pmax = 0;
        for (int b = 0; b < c->B; b++)
            for (int h = 0; h < c->H; h++)
                for (int i = 0; i < c->Tq; i++)
                    for (int j = 0; j < c->Tk; j++)
                        if (c->key_mask[b * c->Tk + j] < -1.0f)
                            pmax = fmax(pmax, probs[(((size_t)b * c->H + h) * c->Tq + i) * c->Tk + j]);
        T_CHECK(pmax < 1e-4, "%s: masked keys get probability %.3g", name, pmax);
    }
    /* backward: gradient buffers laid out like the inputs (fused: one buffer) */
    float *dq = calloc(c->qn, sizeof(float)), *dk = c->fused ? dq : calloc(c->kn, sizeof(float)),
          *dv = c->fused ? dq : calloc(c->vn, sizeof(float));
    float *scratch = malloc(sizeof(float) * pn);
    be->ops->attention_backward(be, dq + c->qoff, dk + c->koff, dv + c->voff, scratch, c->w, c->ldo, probs, c->qbuf + c->qoff,
                            c->ldq, c->kbuf + c->koff, c->ldk, c->vbuf + c->voff, c->ldv, c->B, c->Tq, c->Tk, c->H, c->hd,
                            c->scale, c->d);
    char what[128];
    if (c->fused) {
        c->which = 0;
        snprintf(what, sizeof what, "%s d(qkv)", name);
        t_grad_check(what, c->qbuf, c->qn, dq, att_objf, att_objd, c);
    } else {
        float *bufs[3] = {c->qbuf, c->kbuf, c->vbuf}, *grads[3] = {dq, dk, dv};
        size_t ns[3] = {c->qn, c->kn, c->vn};
        const char *nm[3] = {"dq", "dk", "dv"};
        for (int i = 0; i < 3; i++) {
            c->which = i;
            snprintf(what, sizeof what, "%s %s", name, nm[i]);
            t_grad_check(what, bufs[i], ns[i], grads[i], att_objf, att_objd, c);
        }
    }
    free(out), free(probs), free(qd), free(kd), free(vd), free(ref), free(pref), free(scratch), free(dq);
    if (!c->fused) free(dk), free(dv);
    free(c->w);
}

static void separate_case(const char *name, int B, int Tq, int Tk, int H, int hd, int ldpad, const float *mask,
                          const m3ae_dropout *d, uint64_t seed) {
    att_ctx c = {.B = B, .Tq = Tq, .Tk = Tk, .H = H, .hd = hd, .key_mask = mask, .d = d};
    c.scale = 1.0f / sqrtf((float)hd);
    c.ldq = c.ldk = c.ldv = H * hd + ldpad;
    c.ldo = H * hd + 2 * ldpad;
    c.qn = (size_t)B * Tq * c.ldq, c.kn = (size_t)B * Tk * c.ldk, c.vn = (size_t)B * Tk * c.ldv;
    c.qbuf = t_randn(c.qn, seed, 1.0f), c.kbuf = t_randn(c.kn, seed + 1, 1.0f), c.vbuf = t_randn(c.vn, seed + 2, 1.0f);
    run_case(name, &c);
    free(c.qbuf), free(c.kbuf), free(c.vbuf);
}

static void fused_case(const char *name, int B, int T, int H, int hd, const float *mask, const m3ae_dropout *d) {
    int W = H * hd;
    att_ctx c = {.B = B, .Tq = T, .Tk = T, .H = H, .hd = hd, .key_mask = mask, .d = d, .fused = 1};
    c.scale = 1.0f / sqrtf((float)hd);
    c.ldq = c.ldk = c.ldv = 3 * W;
    c.ldo = W;
    c.qoff = 0, c.koff = W, c.voff = 2 * W;
    c.qn = c.kn = c.vn = (size_t)B * T * 3 * W;
    c.qbuf = c.kbuf = c.vbuf = t_randn(c.qn, 300, 1.0f);
    run_case(name, &c);
    free(c.qbuf);
}

static void test_threads(void) {
    int B = 2, T = 40, H = 3, hd = 8, W = H * hd;
    int64_t ids[2] = {4, 9};
    m3ae_dropout d = {.p = 0.2f, .seed = 5, .step = 1, .site = 2, .sample_ids = ids};
    float *qkv = t_randn((size_t)B * T * 3 * W, 400, 1.0f), *dout = t_randn((size_t)B * T * W, 401, 1.0f);
    size_t pn = (size_t)B * H * T * T;
    float *out[2], *probs[2], *dqkv[2], *scratch = malloc(sizeof(float) * pn);
    for (int t = 0; t < 2; t++) {
        t_set_threads(&be, t + 1);
        out[t] = malloc(sizeof(float) * B * T * W), probs[t] = malloc(sizeof(float) * pn);
        dqkv[t] = malloc(sizeof(float) * B * T * 3 * W);
        be->ops->attention_forward(be, out[t], W, probs[t], qkv, 3 * W, qkv + W, 3 * W, qkv + 2 * W, 3 * W, NULL, B, T, T, H,
                               hd, 1.0f / sqrtf(hd), &d);
        be->ops->attention_backward(be, dqkv[t], dqkv[t] + W, dqkv[t] + 2 * W, scratch, dout, W, probs[t], qkv, 3 * W, qkv + W,
                                3 * W, qkv + 2 * W, 3 * W, B, T, T, H, hd, 1.0f / sqrtf(hd), &d);
    }
    T_CHECK(memcmp(out[0], out[1], sizeof(float) * B * T * W) == 0, "attention_forward differs for 1 and 2 threads");
    T_CHECK(memcmp(dqkv[0], dqkv[1], sizeof(float) * B * T * 3 * W) == 0,
            "attention_backward differs for 1 and 2 threads");
    for (int t = 0; t < 2; t++) free(out[t]), free(probs[t]), free(dqkv[t]);
    free(qkv), free(dout), free(scratch);
    t_set_threads(&be, 1);
}

int main(void) {
    t_set_threads(&be, 1);
    /* key mask: batch 0 pads its last 2 keys, batch 1 its last key */
    float mask5[2 * 5] = {0, 0, 0, -10000, -10000, 0, 0, 0, 0, -10000};
    float mask6[2 * 6] = {0, 0, 0, 0, -10000, -10000, 0, 0, 0, 0, 0, -10000};
    int64_t ids[2] = {11, 3};
    m3ae_dropout d = {.p = 0.25f, .seed = 9, .step = 4, .site = 12, .sample_ids = ids};
    separate_case("self", 2, 5, 5, 2, 3, 0, NULL, NULL, 100);
    separate_case("self+mask", 2, 5, 5, 2, 3, 0, mask5, NULL, 110);
    separate_case("cross Tq=4 Tk=6 +mask strided", 2, 4, 6, 2, 3, 3, mask6, NULL, 120);
    separate_case("self+dropout", 2, 5, 5, 2, 3, 0, mask5, &d, 130);
    fused_case("fused qkv", 2, 5, 2, 3, NULL, NULL);
    fused_case("fused qkv+mask+dropout", 2, 5, 2, 3, mask5, &d);
    /* a larger forward (parallel path), against the reference only */
    {
        att_ctx c = {.B = 3, .Tq = 33, .Tk = 33, .H = 4, .hd = 16, .fused = 1};
        int W = 64;
        float *m = calloc(3 * 33, sizeof(float));
        for (int j = 20; j < 33; j++) m[33 + j] = -10000.0f;
        c.key_mask = m;
        c.scale = 0.25f, c.ldq = c.ldk = c.ldv = 3 * W, c.ldo = W, c.koff = W, c.voff = 2 * W;
        c.qn = c.kn = c.vn = (size_t)3 * 33 * 3 * W;
        c.qbuf = c.kbuf = c.vbuf = t_randn(c.qn, 500, 1.0f);
        float *out = malloc(sizeof(float) * 3 * 33 * W), *probs = malloc(sizeof(float) * 3 * 4 * 33 * 33);
        t_set_threads(&be, 2);
        be->ops->attention_forward(be, out, W, probs, c.qbuf, 3 * W, c.qbuf + W, 3 * W, c.qbuf + 2 * W, 3 * W, m, 3, 33, 33, 4, 16,
                               0.25f, NULL);
        t_set_threads(&be, 1);
        double *qd = t_to_double(c.qbuf, c.qn), *ref = malloc(sizeof(double) * 3 * 33 * W);
        att_ref(&c, qd, qd + W, qd + 2 * W, ref, NULL);
        double e = t_rel_err(out, ref, (size_t)3 * 33 * W);
        T_CHECK(e < 1e-5, "larger attention forward rel err %.3g", e);
        free(m), free(c.qbuf), free(out), free(probs), free(qd), free(ref);
    }
    test_threads();
    return t_done("test_ops_attention");
}
