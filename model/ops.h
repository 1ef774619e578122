/* The operations interface: every layer in model/ computes through these functions and nothing
 * else (no BLAS call, no loop over a tensor in layer code), so that the CPU backend (model/cpu/,
 * OpenBLAS + OpenMP) and the CUDA backend (model/cuda/, cuBLAS + kernels) share one model.
 *
 * Conventions
 *  - Row-major float32. Shapes are given in the comments as (rows, cols) or (B, T, C).
 *  - Pointers are backend memory (host memory for the CPU backend, device memory for CUDA).
 *  - Gradient contract: parameter gradients ACCUMULATE (+=); activation gradients are WRITTEN (=),
 *    except where an `accumulate` flag says otherwise (residual branches add into one buffer).
 *  - Results are deterministic: the same inputs give the same bits for any thread count.
 *  - Dropout is counter-based (common/rng.h): the mask of element i of batch row b is a pure
 *    function of (seed, site, step, sample_ids[b], i), so it is regenerated in backward, never stored,
 *    and does not depend on which rank computes the sample. */
#ifndef M3AE_MODEL_OPS_H
#define M3AE_MODEL_OPS_H

#include <stddef.h>
#include <stdint.h>

/* Dropout description; p == 0 (or a NULL pointer) means identity. */
typedef struct {
    float p;                   /* drop probability */
    uint64_t seed;             /* run seed */
    uint64_t step;             /* optimizer step (or micro-step counter) */
    uint32_t site;             /* which dropout in the network: unique per layer and place */
    const int64_t *sample_ids; /* (B) global sample index of each batch row (host memory) */
} m3ae_dropout;

typedef struct m3ae_ops {
    const char *name; /* "cpu" or "cuda" */

    /* ---- memory ---- */
    void *(*alloc)(size_t bytes, const char *what); /* zeroed; fatal error naming `what` on failure */
    void (*free)(void *p);
    void (*upload)(void *dst, const void *host_src, size_t bytes);
    void (*download)(void *host_dst, const void *src, size_t bytes);
    void (*zero)(float *x, size_t n);
    void (*copy)(float *dst, const float *src, size_t n);
    /* y[i] += x[i] */
    void (*add_inplace)(float *y, const float *x, size_t n);
    /* y[i] *= s */
    void (*scale)(float *y, float s, size_t n);
    /* copy `rows` rows of `cols` floats between strided matrices: dst[r*ld_dst + c] = src[r*ld_src + c] */
    void (*copy_rows)(float *dst, int ld_dst, const float *src, int ld_src, int rows, int cols);

    /* ---- matrix products ---- */
    /* C(M,N) = alpha * op(A) op(B) + beta * C; op(A) is (M,K), op(B) is (K,N); lda/ldb/ldc row strides */
    void (*gemm)(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc);
    /* y(n,out) = x(n,in) W(out,in)^T + b(out)   (b may be NULL) */
    void (*linear_forward)(float *y, const float *x, const float *W, const float *b, int n, int in, int out);
    /* dx(n,in) (=, or += when accumulate_dx) = dy W; dW(out,in) += dy^T x; db(out) += sum_rows dy.
     * dx, dW, db may each be NULL when not needed. */
    void (*linear_backward)(float *dx, float *dW, float *db, const float *dy, const float *x,
                            const float *W, int n, int in, int out, int accumulate_dx);

    /* ---- normalisation and activations ---- */
    /* y(n,C) = (x - mean) * rstd * g + b; saves mean(n), rstd(n). y may alias x. */
    void (*layernorm_forward)(float *y, float *mean, float *rstd, const float *x, const float *g,
                              const float *b, int n, int C, float eps);
    /* x is the forward input; dx (=, or += when accumulate_dx); dg, db +=. */
    void (*layernorm_backward)(float *dx, float *dg, float *db, const float *dy, const float *x,
                               const float *mean, const float *rstd, const float *g, int n, int C,
                               int accumulate_dx);
    /* GELU with erf (BERT/RoBERTa); QuickGELU x*sigmoid(1.702x) (CLIP); tanh (poolers).
     * Backward of gelu/quickgelu takes the forward input x; tanh backward takes the output y. dx may alias dy. */
    void (*gelu_forward)(float *y, const float *x, size_t n);
    void (*gelu_backward)(float *dx, const float *dy, const float *x, size_t n);
    void (*quickgelu_forward)(float *y, const float *x, size_t n);
    void (*quickgelu_backward)(float *dx, const float *dy, const float *x, size_t n);
    void (*tanh_forward)(float *y, const float *x, size_t n);
    void (*tanh_backward)(float *dx, const float *dy, const float *y, size_t n);
    /* x(B, per_row) -> y: zero with probability p, else scaled by 1/(1-p). y may alias x.
     * Backward applies the same mask to dy. */
    void (*dropout_forward)(float *y, const float *x, int B, size_t per_row, const m3ae_dropout *d);
    void (*dropout_backward)(float *dx, const float *dy, int B, size_t per_row, const m3ae_dropout *d);

    /* ---- attention ----
     * Multi-head scaled dot-product attention, H heads of size hd:
     *   q (B,Tq,*) row stride ldq, head h at columns [h*hd, (h+1)*hd); k (B,Tk,*) ldk; v (B,Tk,*) ldv
     *   scores = q k^T * scale + key_mask[b, j]  (key_mask (B,Tk) additive, e.g. -10000 on padding; may be NULL)
     *   probs (B,H,Tq,Tk) = softmax(scores), saved for backward (before dropout)
     *   out (B,Tq,H*hd) row stride ldo = dropout(probs) v
     * Backward writes dq, dk, dv (same strides as q, k, v; they may point into one fused (B,T,3W)
     * buffer); `scratch` holds at least B*H*Tq*Tk floats. */
    void (*attention_forward)(float *out, int ldo, float *probs, const float *q, int ldq, const float *k,
                              int ldk, const float *v, int ldv, const float *key_mask, int B, int Tq,
                              int Tk, int H, int hd, float scale, const m3ae_dropout *d);
    void (*attention_backward)(float *dq, float *dk, float *dv, float *scratch, const float *dout, int ldo,
                               const float *probs, const float *q, int ldq, const float *k, int ldk,
                               const float *v, int ldv, int B, int Tq, int Tk, int H, int hd, float scale,
                               const m3ae_dropout *d);

    /* ---- gathers ---- */
    /* y(n,C) = table[ids[i]] ; backward: dtable[ids[i]] += dy[i] (in row order: deterministic). ids: host memory.
     * Rows i with ids[i] == padding_idx get no gradient (torch nn.Embedding(padding_idx), RoBERTa's
     * word and position tables, spec 8 item 10); padding_idx = -1 skips none. */
    void (*embedding_forward)(float *y, const int32_t *ids, const float *table, int n, int C);
    void (*embedding_backward)(float *dtable, const float *dy, const int32_t *ids, int n, int C, int padding_idx);
    /* y(B,Tout,C)[b,t] = x(B,Tin,C)[b, idx[b*Tout+t]] ; backward: dx[b, idx] += dy[b, t] (dx accumulates). idx: host */
    void (*gather_rows)(float *y, const float *x, const int32_t *idx, int B, int Tin, int Tout, int C);
    void (*gather_rows_backward)(float *dx, const float *dy, const int32_t *idx, int B, int Tin, int Tout, int C);
    /* img (B,3,H,W) -> patches (B, (H/P)*(W/P), 3*P*P); patches in row-major grid order.
     * channel_last = 0: vector order (c, p, q), the order of a flattened conv weight (W,3,P,P);
     * channel_last = 1: vector order (p, q, c), the MAE/M3AE patchify order of the MIM target. */
    void (*patchify)(float *patches, const float *img, int B, int H, int W, int P, int channel_last);

    /* ---- losses (each returns the SUM of per-item losses in double; gradients are scaled by
     * grad_scale, e.g. 1/global_count, so the caller decides the normalisation) ---- */
    /* Softmax cross-entropy over V classes for n rows; rows with label == ignore_index are skipped.
     * Writes dlogits (may alias logits): grad_scale * (softmax - onehot), zero for skipped rows.
     * *count = rows used, *correct = rows whose argmax equals the label (may be NULL). */
    double (*cross_entropy)(float *dlogits, const float *logits, const int32_t *labels, int n, int V,
                            int ignore_index, float grad_scale, int *count, int *correct);
    /* Per-patch normalised target: t(n,D) <- (t - mean) / sqrt(var_unbiased + eps). In place. */
    void (*patch_normalize)(float *t, int n, int D, float eps);
    /* MIM loss: sum_r mask[r] * mean_d (pred[r,d] - target[r,d])^2 over n rows of D.
     * dpred = grad_scale * mask[r] * 2 (pred - target) / D. mask: backend memory. */
    double (*mim_loss)(float *dpred, const float *pred, const float *target, const float *mask, int n, int D,
                       float grad_scale);

    /* ---- optimizer (issue 5; implement when the optimizer lands) ---- */
} m3ae_ops;

/* The CPU backend (OpenBLAS + OpenMP). `threads` > 0 sets the OpenMP thread count, <= 0 keeps it.
 * OpenBLAS is always set to one thread: the backend parallelises with OpenMP over work items fixed by
 * the shapes (GEMM tiles, attention heads, row blocks), which is what makes results thread-count
 * independent. */
const m3ae_ops *m3ae_ops_cpu(int threads);

#endif
