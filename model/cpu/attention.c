/* Multi-head scaled dot-product attention on the CPU. Work is split over (batch, head) pairs, each
 * a fixed sequence of single-threaded OpenBLAS calls (scores, softmax, probs * V), so the result is
 * the same for any thread count and the per-head matrices stay in cache between the steps. */
#include <omp.h>
#include <stdlib.h>

#include "common/error.h"
#include "model/cpu/cpu_internal.h"

/* row (n) <- softmax(row + mask) with max subtraction; mask may be NULL. The max and the sum run
 * over 8 interleaved partials (a fixed order, vectorisable). */
M3AE_CPU_SIMD_CLONES static void softmax_row(float *row, const float *mask, int n) {
    if (mask)
        for (int j = 0; j < n; j++) row[j] += mask[j];
    float m8[8];
    for (int l = 0; l < 8; l++) m8[l] = row[0];
    int n8 = n & ~7;
    for (int j = 0; j < n8; j += 8)
        for (int l = 0; l < 8; l++) m8[l] = row[j + l] > m8[l] ? row[j + l] : m8[l];
    float mx = m8[0];
    for (int l = 1; l < 8; l++) mx = m8[l] > mx ? m8[l] : mx;
    for (int j = n8; j < n; j++) mx = row[j] > mx ? row[j] : mx;
    for (int j = 0; j < n; j++) row[j] = m3ae_cpu_expf(row[j] - mx);
    float s8[8] = {0};
    for (int j = 0; j < n8; j += 8)
        for (int l = 0; l < 8; l++) s8[l] += row[j + l];
    double s = 0.0;
    for (int l = 0; l < 8; l++) s += s8[l];
    for (int j = n8; j < n; j++) s += row[j];
    float inv = (float)(1.0 / s);
    for (int j = 0; j < n; j++) row[j] *= inv;
}

/* S (Tq,Tk) <- P * (S - rowsum(P * S)): softmax backward in place, S holding dprobs on entry.
 * The row sums run in double over 8 interleaved lanes (fixed order). */
M3AE_CPU_SIMD_CLONES static void softmax_backward_rows(float *S, const float *P, int Tq, int Tk) {
    int n8 = Tk & ~7;
    for (int i = 0; i < Tq; i++) {
        const float *pr = P + (size_t)i * Tk;
        float *sr = S + (size_t)i * Tk;
        double d8[8] = {0};
        for (int j = 0; j < n8; j += 8)
            for (int l = 0; l < 8; l++) d8[l] += (double)(pr[j + l] * sr[j + l]);
        double dot = 0.0;
        for (int l = 0; l < 8; l++) dot += d8[l];
        for (int j = n8; j < Tk; j++) dot += (double)(pr[j] * sr[j]);
        const float df = (float)dot;
        for (int j = 0; j < Tk; j++) sr[j] = pr[j] * (sr[j] - df);
    }
}

/* The dropout mask buffers: one (Tq,Tk) slot per thread from the workspace, so the team is at most
 * as large as the slots reserved at planning time (the result does not depend on the team size). */
size_t m3ae_cpu_attention_workspace(int64_t Tq, int64_t Tk, int drop) {
    const int slots = omp_get_max_threads() > 0 ? omp_get_max_threads() : 1; /* the team at planning time */
    return drop ? (size_t)slots * (size_t)Tq * (size_t)Tk * sizeof(float) : 0;
}

static int team_size(m3ae_backend *be, size_t tt, float **ws, const char *what) {
    *ws = m3ae_backend_workspace(be, tt * sizeof(float), what);
    size_t slots = be->workspace_bytes / (tt * sizeof(float));
    int t = omp_get_max_threads();
    return (size_t)t < slots ? t : (int)slots;
}

void m3ae_cpu_attention_forward(m3ae_backend *be, float *out, int ldo, float *probs, const float *q, int ldq, const float *k,
                                int ldk, const float *v, int ldv, const float *key_mask, int B, int Tq, int Tk,
                                int H, int hd, float scale, const m3ae_dropout *d) {
    // q (B,Tq,ldq), k (B,Tk,ldk), v (B,Tk,ldv), key_mask (B,Tk) -> probs (B,H,Tq,Tk), out (B,Tq,ldo)
    if (B <= 0 || H <= 0 || Tq <= 0 || Tk <= 0) return;
    const int drop = m3ae_cpu_dropout_active(d);
    const size_t tt = (size_t)Tq * Tk;
    const int nbh = B * H;
    float *ws = NULL;
    const int team = drop ? team_size(be, tt, &ws, "attention_forward (dropped probabilities)") : omp_get_max_threads();
#pragma omp parallel num_threads(team) if (nbh > 1 && tt * hd * nbh >= 65536)
    {
        float *pd = drop ? ws + (size_t)omp_get_thread_num() * tt : NULL;
#pragma omp for schedule(static)
        for (int bh = 0; bh < nbh; bh++) {
            int b = bh / H, h = bh % H;
            const float *qb = q + (size_t)b * Tq * ldq + (size_t)h * hd;
            const float *kb = k + (size_t)b * Tk * ldk + (size_t)h * hd;
            const float *vb = v + (size_t)b * Tk * ldv + (size_t)h * hd;
            float *P = probs + (size_t)bh * tt;
            // scores (Tq,Tk) = scale * q (Tq,hd) k^T (hd,Tk)
            m3ae_cpu_gemm_serial(0, 1, Tq, Tk, hd, scale, qb, ldq, kb, ldk, 0.0f, P, Tk);
            const float *mask = key_mask ? key_mask + (size_t)b * Tk : NULL;
            for (int i = 0; i < Tq; i++) softmax_row(P + (size_t)i * Tk, mask, Tk);
            const float *src = P;
            if (drop) {
                m3ae_rng r = m3ae_cpu_dropout_rng(d, b);
                m3ae_cpu_dropout_mask(pd, &r, (uint64_t)h * tt, tt, d->p);
                for (size_t j = 0; j < tt; j++) pd[j] *= P[j];
                src = pd;
            }
            // out (Tq,hd) = probs (Tq,Tk) v (Tk,hd)
            m3ae_cpu_gemm_serial(0, 0, Tq, hd, Tk, 1.0f, src, Tk, vb, ldv, 0.0f, out + (size_t)b * Tq * ldo + (size_t)h * hd,
                                 ldo);
        }
    }
}

void m3ae_cpu_attention_backward(m3ae_backend *be, float *dq, float *dk, float *dv, float *scratch, const float *dout, int ldo,
                                 const float *probs, const float *q, int ldq, const float *k, int ldk,
                                 const float *v, int ldv, int B, int Tq, int Tk, int H, int hd, float scale,
                                 const m3ae_dropout *d) {
    // dout (B,Tq,ldo), probs (B,H,Tq,Tk) -> dq (B,Tq,ldq), dk (B,Tk,ldk), dv (B,Tk,ldv); scratch (B,H,Tq,Tk)
    if (B <= 0 || H <= 0 || Tq <= 0 || Tk <= 0) return;
    const int drop = m3ae_cpu_dropout_active(d);
    const size_t tt = (size_t)Tq * Tk;
    const int nbh = B * H;
    float *ws = NULL;
    const int team = drop ? team_size(be, tt, &ws, "attention_backward (dropout mask)") : omp_get_max_threads();
#pragma omp parallel num_threads(team) if (nbh > 1 && tt * hd * nbh >= 65536)
    {
        float *md = drop ? ws + (size_t)omp_get_thread_num() * tt : NULL;
#pragma omp for schedule(static)
        for (int bh = 0; bh < nbh; bh++) {
            int b = bh / H, h = bh % H;
            const float *qb = q + (size_t)b * Tq * ldq + (size_t)h * hd;
            const float *kb = k + (size_t)b * Tk * ldk + (size_t)h * hd;
            const float *vb = v + (size_t)b * Tk * ldv + (size_t)h * hd;
            const float *dob = dout + (size_t)b * Tq * ldo + (size_t)h * hd;
            const float *P = probs + (size_t)bh * tt;
            float *S = scratch + (size_t)bh * tt;
            float *dvb = dv + (size_t)b * Tk * ldv + (size_t)h * hd;
            // dv (Tk,hd) = dropout(probs)^T (Tk,Tq) dout (Tq,hd)
            if (drop) {
                m3ae_rng r = m3ae_cpu_dropout_rng(d, b);
                m3ae_cpu_dropout_mask(md, &r, (uint64_t)h * tt, tt, d->p);
                for (size_t j = 0; j < tt; j++) S[j] = P[j] * md[j];
                m3ae_cpu_gemm_serial(1, 0, Tk, hd, Tq, 1.0f, S, Tk, dob, ldo, 0.0f, dvb, ldv);
            } else {
                m3ae_cpu_gemm_serial(1, 0, Tk, hd, Tq, 1.0f, P, Tk, dob, ldo, 0.0f, dvb, ldv);
            }
            // dprobs (Tq,Tk) = dout (Tq,hd) v^T (hd,Tk), then through the dropout mask
            m3ae_cpu_gemm_serial(0, 1, Tq, Tk, hd, 1.0f, dob, ldo, vb, ldv, 0.0f, S, Tk);
            if (drop)
                for (size_t j = 0; j < tt; j++) S[j] *= md[j];
            softmax_backward_rows(S, P, Tq, Tk);
            // dq (Tq,hd) = scale * dscores (Tq,Tk) k (Tk,hd); dk (Tk,hd) = scale * dscores^T q
            m3ae_cpu_gemm_serial(0, 0, Tq, hd, Tk, scale, S, Tk, kb, ldk, 0.0f, dq + (size_t)b * Tq * ldq + (size_t)h * hd,
                                 ldq);
            m3ae_cpu_gemm_serial(1, 0, Tk, hd, Tq, scale, S, Tk, qb, ldq, 0.0f, dk + (size_t)b * Tk * ldk + (size_t)h * hd,
                                 ldk);
        }
    }
}
