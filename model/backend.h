/* The backend interface: every layer in model/ computes through these entries and nothing else (no
 * BLAS call, no loop over a tensor in layer code), so that the CPU backend (model/cpu/, OpenBLAS +
 * OpenMP) and a CUDA backend (model/cuda/, cuBLAS + kernels; issue 11) share one model.
 *
 * A backend is opened by name (m3ae_backend_open("cpu" | "cuda", options)). EVERY entry takes the
 * backend first: be->ops->gemm(be, ...). The backend carries its private context (OpenMP thread
 * count on the CPU; handles, streams and events on CUDA), the planned workspace and the activation
 * dtype, so an implementation needs no globals.
 *
 * Why a public struct and not an opaque handle: layer code calls be->ops->X(be, ...) directly (one
 * indirect call, no accessor per entry), and the fields are few and read-only after open; only
 * the backend and model/backend.c write them.
 *
 * Conventions
 *  - Pointers passed to entries are BACKEND memory (host memory for the CPU backend, device memory
 *    for CUDA): tensors AND index arrays (token ids, gather indices, labels, dropout sample ids).
 *    The model stages a micro-batch's arrays into backend memory once (m3ae_model_stage).
 *  - Row-major. Shapes are given in the comments as (rows, cols) or (B, T, C).
 *  - Parameters, gradients, optimizer moments and loss inputs are float32. Activations have the
 *    backend's activation dtype be->act_dtype (float32 now; bf16 comes with the CUDA issue): the
 *    pointers are typed `float *` as handles, and a bf16 backend reads and writes them as bf16, so
 *    no signature changes when bf16 arrives. The model's activation plan sizes its buffers with
 *    m3ae_dtype_bytes(act_dtype).
 *  - Gradient contract: parameter gradients ACCUMULATE (+=); activation gradients are WRITTEN (=),
 *    except where an `accumulate` flag says otherwise (residual branches add into one buffer).
 *  - Results are deterministic: the same inputs give the same bits for any thread count.
 *  - Work is ordered on the backend's one stream: entries run in call order. Host results (the
 *    loss sums, counts, sq_norm) are returned synchronously.
 *  - Dropout is counter-based (common/rng.h): the mask of element i of batch row b is a pure
 *    function of (seed, site, step, sample_ids[b], i), so it is regenerated in backward, never
 *    stored, and does not depend on which rank computes the sample.
 *  - No allocation inside a step: entries that need scratch (attention with dropout, layer-norm
 *    backward partial sums, per-row loss buffers) take it from the backend's workspace, which the
 *    model reserves once at creation from workspace_bytes() of its largest call of each kind.
 *    An entry whose call needs more than the reserved workspace stops with a fatal error. */
#ifndef M3AE_MODEL_BACKEND_H
#define M3AE_MODEL_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Element type of activations. */
typedef enum { M3AE_DTYPE_F32 = 0, M3AE_DTYPE_BF16 = 1 } m3ae_dtype;

static inline size_t m3ae_dtype_bytes(m3ae_dtype t) { return t == M3AE_DTYPE_BF16 ? 2 : 4; }
const char *m3ae_dtype_name(m3ae_dtype t);

/* Dropout description; p == 0 (or a NULL pointer) means identity. */
typedef struct {
    float p;                   /* drop probability */
    uint64_t seed;             /* run seed */
    uint64_t step;             /* optimizer step (or micro-step counter) */
    uint32_t site;             /* which dropout in the network: unique per layer and place */
    const int64_t *sample_ids; /* (B) global sample index of each batch row (BACKEND memory) */
} m3ae_dropout;

/* One AdamW update of one tensor (transformers' AdamW, correct_bias=True; see model/optimizer.h):
 *   g' = g * grad_scale; m = b1 m + (1-b1) g'; v = b2 v + (1-b2) g'^2
 *   p -= lr sqrt(bc2)/bc1 * m / (sqrt(v) + eps);  p -= lr * weight_decay * p */
typedef struct {
    double lr;                /* this tensor's learning rate at this step */
    double beta1, beta2, eps;
    double weight_decay;      /* 0 for tensors that do not decay */
    double bias_correction1;  /* 1 - beta1^t */
    double bias_correction2;  /* 1 - beta2^t */
    float grad_scale;         /* global-norm clipping factor (1 = none) */
} m3ae_adamw_args;

/* Entries that need workspace, for workspace_bytes(). */
typedef enum {
    M3AE_WS_ATTENTION_FORWARD = 0, /* shape: B, H, Tq, Tk, dropout active (0/1) */
    M3AE_WS_ATTENTION_BACKWARD,    /* shape: B, H, Tq, Tk, dropout active (0/1) */
    M3AE_WS_LAYERNORM_BACKWARD,    /* shape: n, C */
    M3AE_WS_CROSS_ENTROPY,         /* shape: n */
    M3AE_WS_MIM_LOSS,              /* shape: n */
    M3AE_WS_KINDS
} m3ae_ws_kind;

/* An event on the backend's stream: "the work submitted before event_record is complete". */
typedef struct m3ae_event m3ae_event;

typedef struct m3ae_backend m3ae_backend;
typedef struct m3ae_backend_ops m3ae_backend_ops;

typedef struct {
    int threads;          /* CPU: OpenMP threads; <= 0 keeps the current setting */
    int device;           /* GPU index (unused on the CPU) */
    m3ae_dtype act_dtype; /* activation dtype: M3AE_DTYPE_F32 (the CPU backend refuses BF16) */
} m3ae_backend_options;

struct m3ae_backend {
    const char *name;            /* "cpu" or "cuda" */
    const m3ae_backend_ops *ops; /* the entry table */
    void *ctx;                   /* the implementation's private context */
    m3ae_dtype act_dtype;        /* element type of activations */
    int device;                  /* GPU index; 0 on the CPU */
    void *workspace;             /* reserved scratch (backend memory), see m3ae_backend_reserve_workspace */
    size_t workspace_bytes;
    size_t n_allocs;             /* alloc calls so far (tests assert none happen inside a step) */
};

struct m3ae_backend_ops {
    /* Releases the private context (handles, streams, events pool); NULL when there is none.
     * Called by m3ae_backend_close after the workspace is freed. */
    void (*release)(m3ae_backend *be);

    /* ---- memory ---- */
    /* zeroed, 64-byte aligned; fatal error naming `what` on failure */
    void *(*alloc)(m3ae_backend *be, size_t bytes, const char *what);
    void (*free)(m3ae_backend *be, void *p);
    /* 1 when backend memory is host memory (the CPU backend) */
    int (*is_host)(const m3ae_backend *be);
    /* Copies between host and backend memory, ASYNCHRONOUS where the backend can: the host buffer
     * must stay valid (and, for upload, unchanged) until the next sync or a waited event.
     * The CPU backend copies at once. */
    void (*upload)(m3ae_backend *be, void *dst, const void *host_src, size_t bytes);
    void (*download)(m3ae_backend *be, void *host_dst, const void *src, size_t bytes);
    /* Waits until all submitted work is complete. */
    void (*sync)(m3ae_backend *be);
    /* Events: record marks the point in the stream; wait blocks the CALLER (host) until the work
     * before that point is complete (another room, e.g. the all-reduce, waits on "these gradients
     * are written"). The CPU backend's work is synchronous, so a recorded event is complete at once
     * and wait returns immediately. */
    m3ae_event *(*event_create)(m3ae_backend *be);
    void (*event_record)(m3ae_backend *be, m3ae_event *ev);
    void (*event_wait)(m3ae_backend *be, m3ae_event *ev);
    void (*event_destroy)(m3ae_backend *be, m3ae_event *ev);
    /* Bytes of workspace entry `kind` needs for a call of this shape (see m3ae_ws_kind); monotone
     * in every shape value, so the maximum over the model's calls is the workspace of its largest. */
    size_t (*workspace_bytes)(const m3ae_backend *be, m3ae_ws_kind kind, const int64_t shape[5]);

    /* ---- elementwise ---- */
    void (*zero)(m3ae_backend *be, float *x, size_t n);
    void (*copy)(m3ae_backend *be, float *dst, const float *src, size_t n);
    /* y[i] += x[i] */
    void (*add_inplace)(m3ae_backend *be, float *y, const float *x, size_t n);
    /* y[i] *= s */
    void (*scale)(m3ae_backend *be, float *y, float s, size_t n);
    /* copy `rows` rows of `cols` floats between strided matrices: dst[r*ld_dst + c] = src[r*ld_src + c] */
    void (*copy_rows)(m3ae_backend *be, float *dst, int ld_dst, const float *src, int ld_src, int rows, int cols);

    /* ---- matrix products ---- */
    /* C(M,N) = alpha * op(A) op(B) + beta * C; op(A) is (M,K), op(B) is (K,N); lda/ldb/ldc row strides */
    void (*gemm)(m3ae_backend *be, int transA, int transB, int M, int N, int K, float alpha, const float *A,
                 int lda, const float *B, int ldb, float beta, float *C, int ldc);
    /* y(n,out) = x(n,in) W(out,in)^T + b(out)   (b may be NULL) */
    void (*linear_forward)(m3ae_backend *be, float *y, const float *x, const float *W, const float *b, int n,
                           int in, int out);
    /* dx(n,in) (=, or += when accumulate_dx) = dy W; dW(out,in) += dy^T x; db(out) += sum_rows dy.
     * dx, dW, db may each be NULL when not needed. */
    void (*linear_backward)(m3ae_backend *be, float *dx, float *dW, float *db, const float *dy, const float *x,
                            const float *W, int n, int in, int out, int accumulate_dx);

    /* ---- normalisation and activations ---- */
    /* y(n,C) = (x - mean) * rstd * g + b; saves mean(n), rstd(n). y may alias x. */
    void (*layernorm_forward)(m3ae_backend *be, float *y, float *mean, float *rstd, const float *x, const float *g,
                              const float *b, int n, int C, float eps);
    /* x is the forward input; dx (=, or += when accumulate_dx); dg, db +=. Workspace: LAYERNORM_BACKWARD. */
    void (*layernorm_backward)(m3ae_backend *be, float *dx, float *dg, float *db, const float *dy, const float *x,
                               const float *mean, const float *rstd, const float *g, int n, int C,
                               int accumulate_dx);
    /* GELU with erf (BERT/RoBERTa); QuickGELU x*sigmoid(1.702x) (CLIP); tanh (poolers).
     * Backward of gelu/quickgelu takes the forward input x; tanh backward takes the output y. dx may alias dy. */
    void (*gelu_forward)(m3ae_backend *be, float *y, const float *x, size_t n);
    void (*gelu_backward)(m3ae_backend *be, float *dx, const float *dy, const float *x, size_t n);
    void (*quickgelu_forward)(m3ae_backend *be, float *y, const float *x, size_t n);
    void (*quickgelu_backward)(m3ae_backend *be, float *dx, const float *dy, const float *x, size_t n);
    void (*tanh_forward)(m3ae_backend *be, float *y, const float *x, size_t n);
    void (*tanh_backward)(m3ae_backend *be, float *dx, const float *dy, const float *y, size_t n);
    /* x(B, per_row) -> y: zero with probability p, else scaled by 1/(1-p). y may alias x.
     * Backward applies the same mask to dy. */
    void (*dropout_forward)(m3ae_backend *be, float *y, const float *x, int B, size_t per_row, const m3ae_dropout *d);
    void (*dropout_backward)(m3ae_backend *be, float *dx, const float *dy, int B, size_t per_row,
                             const m3ae_dropout *d);

    /* ---- attention ----
     * Multi-head scaled dot-product attention, H heads of size hd:
     *   q (B,Tq,*) row stride ldq, head h at columns [h*hd, (h+1)*hd); k (B,Tk,*) ldk; v (B,Tk,*) ldv
     *   scores = q k^T * scale + key_mask[b, j]  (key_mask (B,Tk) additive, e.g. -10000 on padding; may be NULL)
     *   probs (B,H,Tq,Tk) = softmax(scores), saved for backward (before dropout)
     *   out (B,Tq,H*hd) row stride ldo = dropout(probs) v
     * Backward writes dq, dk, dv (same strides as q, k, v; they may point into one fused (B,T,3W)
     * buffer); `scratch` holds at least B*H*Tq*Tk floats. Workspace: ATTENTION_FORWARD / _BACKWARD
     * (the dropout masks). */
    void (*attention_forward)(m3ae_backend *be, float *out, int ldo, float *probs, const float *q, int ldq,
                              const float *k, int ldk, const float *v, int ldv, const float *key_mask, int B, int Tq,
                              int Tk, int H, int hd, float scale, const m3ae_dropout *d);
    void (*attention_backward)(m3ae_backend *be, float *dq, float *dk, float *dv, float *scratch, const float *dout,
                               int ldo, const float *probs, const float *q, int ldq, const float *k, int ldk,
                               const float *v, int ldv, int B, int Tq, int Tk, int H, int hd, float scale,
                               const m3ae_dropout *d);

    /* ---- gathers (index arrays in backend memory) ---- */
    /* y(n,C) = table[ids[i]] */
    void (*embedding_forward)(m3ae_backend *be, float *y, const int32_t *ids, const float *table, int n, int C);
    /* dtable[ids[i]] += dy[i] in row order (deterministic); rows whose id == padding_idx get NO
     * gradient (nn.Embedding(padding_idx) semantics); padding_idx = -1: none. */
    void (*embedding_backward)(m3ae_backend *be, float *dtable, const float *dy, const int32_t *ids, int n, int C,
                               int padding_idx);
    /* y(B,Tout,C)[b,t] = x(B,Tin,C)[b, idx[b*Tout+t]] ; backward: dx[b, idx] += dy[b, t] (dx accumulates) */
    void (*gather_rows)(m3ae_backend *be, float *y, const float *x, const int32_t *idx, int B, int Tin, int Tout,
                        int C);
    void (*gather_rows_backward)(m3ae_backend *be, float *dx, const float *dy, const int32_t *idx, int B, int Tin,
                                 int Tout, int C);
    /* img (B,3,H,W) -> patches (B, (H/P)*(W/P), 3*P*P); patches in row-major grid order.
     * channel_last = 0: vector order (c, p, q), the order of a flattened conv weight (W,3,P,P);
     * channel_last = 1: vector order (p, q, c), the MAE/M3AE patchify order of the MIM target. */
    void (*patchify)(m3ae_backend *be, float *patches, const float *img, int B, int H, int W, int P,
                     int channel_last);

    /* ---- losses (each returns the SUM of per-item losses in double; gradients are scaled by
     * grad_scale, e.g. 1/global_count, so the caller decides the normalisation) ---- */
    /* Softmax cross-entropy over V classes for n rows; rows with label == ignore_index are skipped.
     * Writes dlogits (may alias logits): grad_scale * (softmax - onehot), zero for skipped rows.
     * *count = rows used, *correct = rows whose argmax equals the label (host; may be NULL).
     * Workspace: CROSS_ENTROPY. */
    double (*cross_entropy)(m3ae_backend *be, float *dlogits, const float *logits, const int32_t *labels, int n,
                            int V, int ignore_index, float grad_scale, int *count, int *correct);
    /* Per-patch normalised target: t(n,D) <- (t - mean) / sqrt(var_unbiased + eps). In place. */
    void (*patch_normalize)(m3ae_backend *be, float *t, int n, int D, float eps);
    /* MIM loss: sum_r mask[r] * mean_d (pred[r,d] - target[r,d])^2 over n rows of D.
     * dpred = grad_scale * mask[r] * 2 (pred - target) / D (dpred may be NULL). Workspace: MIM_LOSS. */
    double (*mim_loss)(m3ae_backend *be, float *dpred, const float *pred, const float *target, const float *mask,
                       int n, int D, float grad_scale);

    /* ---- optimizer ---- */
    /* One AdamW update of n floats (param, exp_avg, exp_avg_sq updated in place). */
    void (*adamw)(m3ae_backend *be, float *param, const float *grad, float *exp_avg, float *exp_avg_sq, size_t n,
                  const m3ae_adamw_args *a);
    /* sum_i x[i]^2 in double; the same bits for any thread count. */
    double (*sq_norm)(m3ae_backend *be, const float *x, size_t n);
};

/* Opens backend `name` ("cpu"; "cuda" when a CUDA backend is built and a device is present).
 * opt may be NULL (defaults: threads kept, device 0, float32 activations). Returns NULL with a
 * message in err when the name is unknown, the backend is not available, or an option is refused. */
m3ae_backend *m3ae_backend_open(const char *name, const m3ae_backend_options *opt, m3ae_error *err);
void m3ae_backend_close(m3ae_backend *be);

/* Makes the workspace at least `bytes` (backend memory; grows only). Call at planning time, never
 * inside a step. */
void m3ae_backend_reserve_workspace(m3ae_backend *be, size_t bytes);
/* The workspace for a call that needs `bytes`: fatal (naming `what`) when the reserve is smaller. */
void *m3ae_backend_workspace(m3ae_backend *be, size_t bytes, const char *what);

/* CPU backend: sets the OpenMP thread count (> 0). Results do not depend on it. Returns -1 (and does
 * nothing) for other backends. */
int m3ae_backend_set_threads(m3ae_backend *be, int threads);

/* Single-precision GEMM rate of this backend in GFLOP/s, measured with its gemm entry on a 1024^3
 * product (best of 3 after a warm-up): the "peak" for MFU on CPUs. */
double m3ae_backend_gemm_gflops(m3ae_backend *be);

/* The names m3ae_backend_open knows, for messages ("cpu, cuda"). */
const char *m3ae_backend_names(void);

/* The CPU backend's open (model/cpu/backend_cpu.c); use m3ae_backend_open. */
m3ae_backend *m3ae_cpu_backend_open(const m3ae_backend_options *opt, m3ae_error *err);

#endif
