/* Gradient buckets (dist/buckets.h). */
#include "dist/buckets.h"

#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/error.h"
#include "common/sys.h"

typedef struct {
    int *tensors, n;     /* registry indices in backward order */
    int reported;        /* tensors reported final this step */
    size_t floats;       /* sum of the tensors' sizes */
    size_t lo, hi;       /* arena stretch [lo, hi) holding them (with padding between) when in place */
    int in_place;
    float *pack;         /* (floats) when not in place */
    m3ae_ring_op *op;
    int started;
    double t_start;      /* m3ae_now_s() when its all-reduce started this step (timelines) */
} bucket;

struct m3ae_buckets {
    const m3ae_registry *r;
    float *grads;
    bucket *b;
    int n;
    int *bucket_of; /* (registry entries) bucket index, -1 for tensors without a gradient */
    int waited;     /* buckets waited for this step */
};

/* The stretch [lo, hi) of the arena the bucket's tensors cover; in place when nothing but padding
 * (no other tensor) lies inside it. */
static void find_stretch(const m3ae_registry *r, bucket *k) {
    size_t lo = (size_t)-1, hi = 0;
    for (int j = 0; j < k->n; j++) {
        const m3ae_param *p = &r->p[k->tensors[j]];
        if (p->offset < lo) lo = p->offset;
        if (p->offset + p->numel > hi) hi = p->offset + p->numel;
    }
    k->lo = lo, k->hi = hi, k->in_place = 1;
    for (int i = 0; i < r->n && k->in_place; i++) {
        const m3ae_param *p = &r->p[i];
        int mine = 0;
        for (int j = 0; j < k->n && !mine; j++) mine = k->tensors[j] == i;
        if (!mine && p->numel > 0 && p->offset < hi && p->offset + p->numel > lo) k->in_place = 0;
    }
}

m3ae_buckets *m3ae_buckets_create(const m3ae_registry *r, float *grads, double bucket_mb, double first_mb,
                                  m3ae_ring *ring) {
    M3AE_CHECK(bucket_mb > 0 && first_mb > 0, M3AE_EXIT_USAGE,
               "gradient buckets of %g MiB (first %g MiB): give sizes above 0 (bucket_mb)", bucket_mb, first_mb);
    m3ae_buckets *b = m3ae_alloc(sizeof *b, "the gradient buckets");
    memset(b, 0, sizeof *b);
    b->r = r, b->grads = grads;
    b->bucket_of = m3ae_alloc((size_t)(r->n > 0 ? r->n : 1) * sizeof(int), "the gradient buckets' index");
    int *order = m3ae_alloc((size_t)(r->n > 0 ? r->n : 1) * sizeof(int), "the backward order");
    /* backward_rank is a permutation of 0..n-1: its inverse is the backward order */
    for (int i = 0; i < r->n; i++) order[i] = -1, b->bucket_of[i] = -1;
    for (int i = 0; i < r->n; i++) {
        int k = r->p[i].backward_rank;
        M3AE_CHECK(k >= 0 && k < r->n && order[k] < 0, M3AE_EXIT_FAIL,
                   "registry entry '%s' has backward_rank %d, not a free place in 0..%d (a registry bug)", r->p[i].name,
                   k, r->n - 1);
        order[k] = i;
    }
    int m = 0;
    for (int k = 0; k < r->n; k++)
        if (r->p[order[k]].has_grad) order[m++] = order[k];
    b->b = m3ae_alloc((size_t)(m > 0 ? m : 1) * sizeof(bucket), "the gradient buckets");
    memset(b->b, 0, (size_t)(m > 0 ? m : 1) * sizeof(bucket));
    const double mib = 1024.0 * 1024.0;
    for (int j = 0; j < m;) {
        bucket *k = &b->b[b->n];
        double cap = (b->n == 0 && first_mb < bucket_mb ? first_mb : bucket_mb) * mib;
        int start = j;
        size_t bytes = 0;
        while (j < m && (j == start || (double)(bytes + r->p[order[j]].numel * sizeof(float)) <= cap))
            bytes += r->p[order[j++]].numel * sizeof(float);
        k->n = j - start;
        k->tensors = m3ae_alloc((size_t)k->n * sizeof(int), "a gradient bucket's tensors");
        memcpy(k->tensors, order + start, (size_t)k->n * sizeof(int));
        k->floats = bytes / sizeof(float);
        for (int t = 0; t < k->n; t++) b->bucket_of[k->tensors[t]] = b->n;
        find_stretch(r, k);
        if (!k->in_place) k->pack = m3ae_alloc(k->floats * sizeof(float), "a gradient bucket's buffer");
        k->op = m3ae_ring_op_create(ring, b->n + 1);
        b->n++;
    }
    m3ae_free(order);
    return b;
}

void m3ae_buckets_destroy(m3ae_buckets *b) {
    if (!b) return;
    for (int k = 0; k < b->n; k++) {
        if (b->b[k].started) m3ae_ring_op_wait(b->b[k].op); /* never leave messages in flight */
        m3ae_ring_op_destroy(b->b[k].op);
        m3ae_free(b->b[k].pack);
        m3ae_free(b->b[k].tensors);
    }
    m3ae_free(b->b);
    m3ae_free(b->bucket_of);
    m3ae_free(b);
}

int m3ae_buckets_count(const m3ae_buckets *b) { return b->n; }
const int *m3ae_buckets_tensors(const m3ae_buckets *b, int k, int *n) {
    *n = b->b[k].n;
    return b->b[k].tensors;
}
size_t m3ae_buckets_floats(const m3ae_buckets *b, int k) { return b->b[k].floats; }
int m3ae_buckets_in_place(const m3ae_buckets *b, int k) { return b->b[k].in_place; }
double m3ae_buckets_started_at(const m3ae_buckets *b, int k) { return b->b[k].t_start; }

static void start(m3ae_buckets *b, bucket *k) {
    if (k->in_place) {
        m3ae_ring_op_start(k->op, b->grads + k->lo, k->hi - k->lo, 0);
    } else {
        size_t at = 0;
        for (int t = 0; t < k->n; t++) {
            const m3ae_param *p = &b->r->p[k->tensors[t]];
            memcpy(k->pack + at, b->grads + p->offset, p->numel * sizeof(float));
            at += p->numel;
        }
        m3ae_ring_op_start(k->op, k->pack, k->floats, 0);
    }
    k->started = 1;
    k->t_start = m3ae_now_s();
}

void m3ae_buckets_poll(m3ae_buckets *b) {
    for (int k = 0; k < b->n; k++)
        if (b->b[k].started) m3ae_ring_op_test(b->b[k].op);
}

void m3ae_buckets_ready(m3ae_buckets *b, int first, int n) {
    for (int i = first; i < first + n; i++) {
        int k = b->bucket_of[i];
        if (k < 0) continue;
        bucket *q = &b->b[k];
        M3AE_CHECK(q->reported < q->n, M3AE_EXIT_FAIL, "gradient bucket %d: '%s' reported final after the bucket was "
                   "complete (a model bug: a gradient reported twice)", k, b->r->p[i].name);
        if (++q->reported == q->n) start(b, q);
    }
    m3ae_buckets_poll(b);
}

void m3ae_buckets_wait(m3ae_buckets *b, int k) {
    bucket *q = &b->b[k];
    M3AE_CHECK(k == b->waited, M3AE_EXIT_FAIL, "gradient bucket %d waited for before bucket %d (every rank must wait "
               "in bucket order)", k, b->waited);
    M3AE_CHECK(q->started, M3AE_EXIT_FAIL, "gradient bucket %d (%d tensors from '%s') never started: %d of its tensors "
               "were reported final (a model bug: the gradient-ready hook missed one)", k, q->n,
               b->r->p[q->tensors[0]].name, q->reported);
    m3ae_ring_op_wait(q->op);
    if (!q->in_place) {
        size_t at = 0;
        for (int t = 0; t < q->n; t++) {
            const m3ae_param *p = &b->r->p[q->tensors[t]];
            memcpy(b->grads + p->offset, q->pack + at, p->numel * sizeof(float));
            at += p->numel;
        }
    }
    q->started = 0, q->reported = 0;
    if (++b->waited == b->n) b->waited = 0;
}
