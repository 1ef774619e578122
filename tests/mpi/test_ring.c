/* dist/ring: the ring and hierarchical all-reduce against MPI_Allreduce (the oracle) for lengths 0,
 * 1, world-1, world+1, odd primes and a long buffer, at several chunk sizes and windows; the result
 * is bitwise the same on every rank, on a rerun, and at every chunk size (the addition order depends
 * on the world size alone); integer-valued inputs sum exactly; averaging divides by the world size;
 * operations with distinct ids run concurrently under polling. With the argument "fake2" the ranks
 * are split into 2 "nodes" (M3AE_FAKE_NODES=2): hier must then run across them (or fall back to
 * ring with a warning when the split is uneven, as at 3 ranks). */
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/rng.h"
#include "dist/ring_mpi.h"
#include "harness.h"

static int rank, world;

static void fill(float *x, size_t n, int salt, int integers) {
    m3ae_rng g = m3ae_rng_make(7, 1000 + (uint64_t)salt, (uint64_t)rank, 0);
    for (size_t i = 0; i < n; i++)
        x[i] = integers ? (float)((int)m3ae_rng_below(&g, i, 201) - 100) : m3ae_rng_normal(&g, i) * (1.0f + (float)(i % 5));
}

/* 1 when x is bitwise rank 0's x on every rank. */
static int same_on_all_ranks(const float *x, size_t n) {
    float *r0 = malloc((n ? n : 1) * sizeof(float));
    memcpy(r0, x, n * sizeof(float));
    MPI_Bcast(r0, (int)n, MPI_FLOAT, 0, MPI_COMM_WORLD);
    int same = memcmp(r0, x, n * sizeof(float)) == 0, all = 0;
    MPI_Allreduce(&same, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    free(r0);
    return all;
}

/* One length with one set-up: against the oracle, bitwise on all ranks and on a rerun; *bits gets
 * the result (for the comparison across chunk sizes). */
static void check_length(m3ae_ring *g, const char *what, size_t n, float *bits) {
    size_t cap = n ? n : 1;
    float *x = malloc(cap * sizeof(float)), *want = malloc(cap * sizeof(float)), *absum = malloc(cap * sizeof(float));
    float *first = malloc(cap * sizeof(float));
    fill(x, n, (int)n, 0);
    for (size_t i = 0; i < n; i++) absum[i] = fabsf(x[i]);
    memcpy(want, x, n * sizeof(float));
    MPI_Allreduce(MPI_IN_PLACE, want, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, absum, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    m3ae_ring_allreduce(g, x, n, 0);
    size_t bad = 0, worst = 0;
    double worst_err = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)x[i] - want[i]), tol = 1e-6 * world * absum[i] + 1e-30;
        if (e > tol) bad++;
        if (e / tol > worst_err) worst_err = e / tol, worst = i;
    }
    T_CHECK(bad == 0, "%s n=%zu: %zu elements differ from MPI_Allreduce beyond float tolerance (worst [%zu] %.9g vs "
            "%.9g)", what, n, bad, worst, n ? x[worst] : 0.0, n ? want[worst] : 0.0);
    T_CHECK(same_on_all_ranks(x, n), "%s n=%zu: the result differs between ranks", what, n);
    memcpy(first, x, n * sizeof(float));
    fill(x, n, (int)n, 0);
    m3ae_ring_allreduce(g, x, n, 0);
    T_CHECK(memcmp(first, x, n * sizeof(float)) == 0, "%s n=%zu: a rerun gave other bits", what, n);
    if (bits) memcpy(bits, x, n * sizeof(float));
    free(x), free(want), free(absum), free(first);
}

static void check_exact_and_average(m3ae_ring *g, const char *what) {
    enum { N = 10007 };
    static float x[N], want[N];
    fill(x, N, 1, 1);
    memcpy(want, x, sizeof x);
    MPI_Allreduce(MPI_IN_PLACE, want, N, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    m3ae_ring_allreduce(g, x, N, 0);
    int bad = 0;
    for (int i = 0; i < N; i++) bad += x[i] != want[i];
    T_CHECK(bad == 0, "%s: %d integer-valued sums are not exact", what, bad);
    fill(x, N, 1, 1);
    m3ae_ring_allreduce(g, x, N, 1);
    bad = 0;
    for (int i = 0; i < N; i++) bad += x[i] != want[i] / (float)world;
    T_CHECK(bad == 0, "%s: %d averages are not the sum / world", what, bad);
}

/* Three operations in flight at once (the buckets of backward), progressed by polling. */
static void check_concurrent(m3ae_ring *g, const char *what) {
    enum { K = 3 };
    static const size_t n[K] = {50021, 3, 70001};
    float *x[K], *want[K];
    m3ae_ring_op *op[K];
    for (int k = 0; k < K; k++) {
        x[k] = malloc(n[k] * sizeof(float)), want[k] = malloc(n[k] * sizeof(float));
        fill(x[k], n[k], 50 + k, 1);
        memcpy(want[k], x[k], n[k] * sizeof(float));
        MPI_Allreduce(MPI_IN_PLACE, want[k], (int)n[k], MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        op[k] = m3ae_ring_op_create(g, k + 1);
    }
    for (int k = 0; k < K; k++) m3ae_ring_op_start(op[k], x[k], n[k], 0);
    for (int done = 0; !done;) {
        done = 1;
        for (int k = K - 1; k >= 0; k--) done &= m3ae_ring_op_test(op[k]);
    }
    for (int k = 0; k < K; k++) {
        m3ae_ring_op_wait(op[k]); /* already done: returns at once */
        T_CHECK(memcmp(x[k], want[k], n[k] * sizeof(float)) == 0, "%s: concurrent operation %d (n=%zu) is wrong", what,
                k + 1, n[k]);
        m3ae_ring_op_destroy(op[k]);
        free(x[k]), free(want[k]);
    }
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    m3ae_log_init(rank, world);
    int fake = argc > 1 && !strcmp(argv[1], "fake2");
    if (fake) setenv("M3AE_FAKE_NODES", "2", 1);
    T_CHECK(world >= 2, "expected at least 2 ranks, got %d", world);

    size_t lengths[] = {0, 1, (size_t)world - 1, (size_t)world + 1, 7, 13, 1009, 65537, 300007};
    const int nl = (int)(sizeof lengths / sizeof lengths[0]);
    struct { size_t chunk; int window; } pipes[] = {{M3AE_RING_CHUNK_FLOATS, M3AE_RING_WINDOW}, {1, 1}, {3, 2}, {1000, 4}, {4096, 7}};
    const int np = (int)(sizeof pipes / sizeof pipes[0]);
    m3ae_ar_algo algos[] = {M3AE_AR_RING, M3AE_AR_HIER, M3AE_AR_AUTO};
    for (int a = 0; a < 3; a++) {
        m3ae_ring *g = m3ae_ring_create_comm(algos[a], MPI_COMM_WORLD);
        char what[96];
        snprintf(what, sizeof what, "%s (%s, %d nodes)", m3ae_ar_algo_name(algos[a]), m3ae_ar_algo_name(m3ae_ring_algo(g)),
                 m3ae_ring_nodes(g));
        if (fake) {
            T_CHECK(m3ae_ring_nodes(g) == 2, "%s: M3AE_FAKE_NODES=2 gave %d nodes", what, m3ae_ring_nodes(g));
            if (algos[a] != M3AE_AR_RING)
                T_CHECK(m3ae_ring_algo(g) == (world % 2 == 0 ? M3AE_AR_HIER : M3AE_AR_RING),
                        "%s: expected hier on 2 even nodes, ring (with a warning) on uneven ones", what);
        } else {
            T_CHECK(m3ae_ring_nodes(g) == 1 && (algos[a] != M3AE_AR_AUTO || m3ae_ring_algo(g) == M3AE_AR_RING),
                    "%s: one machine must be one node and auto must choose ring", what);
        }
        /* auto resolves to ring or hier (checked above), whose results are checked already: its lengths
         * would repeat them */
        for (int l = 0; l < nl && algos[a] != M3AE_AR_AUTO; l++) {
            float *ref = malloc((lengths[l] + 1) * sizeof(float)), *bits = malloc((lengths[l] + 1) * sizeof(float));
            for (int p = 0; p < np; p++) {
                if (lengths[l] > 400 * pipes[p].chunk) continue; /* a million tiny messages prove nothing more */
                m3ae_ring_set_chunk(g, pipes[p].chunk, pipes[p].window);
                char w2[160];
                snprintf(w2, sizeof w2, "%s chunk %zu window %d", what, pipes[p].chunk, pipes[p].window);
                check_length(g, w2, lengths[l], p == 0 ? ref : bits);
                if (p > 0)
                    T_CHECK(memcmp(ref, bits, lengths[l] * sizeof(float)) == 0,
                            "%s n=%zu: other bits than at the default chunk size (the order must not depend on it)", w2,
                            lengths[l]);
            }
            free(ref), free(bits);
        }
        m3ae_ring_set_chunk(g, 1000, 3);
        check_exact_and_average(g, what);
        check_concurrent(g, what);
        m3ae_ring_destroy(g);
    }
    int fails = t_failures;
    MPI_Allreduce(MPI_IN_PLACE, &fails, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    m3ae_info("ring all-reduce over %d ranks%s: %s", world, fake ? " (2 fake nodes)" : "", fails ? "FAILED" : "ok");
    int rc = rank == 0 ? t_done("test_ring") : (t_failures != 0);
    MPI_Finalize();
    return fails ? 1 : rc;
}
