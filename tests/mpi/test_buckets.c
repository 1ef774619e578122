/* dist/buckets on the tiny model's registry: every tensor with a gradient is in exactly one bucket,
 * the buckets follow the backward order, respect bucket_mb (a bucket is larger only when it holds a
 * single tensor) with a smaller first bucket, and are the same on every rank; two steps of reports in
 * backward order (the hook's calls, tensors without a gradient included) with waits in bucket order
 * give the exact sums over ranks (integer-valued gradients), for ring, hier (2 fake nodes at even
 * world sizes) and mpi; tensors without a gradient are left alone. */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "dist/buckets.h"
#include "dist/ring_mpi.h"
#include "harness.h"
#include "model/config.h"

static float value(int rank, size_t i, int step) { return (float)((int)((i * 7 + (size_t)rank * 13 + (size_t)step) % 101) - 50); }

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, world;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    m3ae_log_init(rank, world);
    if (world % 2 == 0) setenv("M3AE_FAKE_NODES", "2", 1);
    m3ae_config cfg;
    m3ae_error err;
    T_CHECK(m3ae_config_preset(&cfg, "tiny", &err) == 0, "tiny preset: %s", err.msg);
    m3ae_registry reg;
    m3ae_registry_build(&reg, &cfg);
    const double bucket_mb = 0.05, first_mb = 0.01;
    float *g = malloc(reg.arena_floats * sizeof(float));
    int *pos = malloc((size_t)reg.n * sizeof(int)); /* registry index of each backward place */
    for (int i = 0; i < reg.n; i++) pos[reg.p[i].backward_rank] = i;

    m3ae_ar_algo algos[] = {M3AE_AR_RING, M3AE_AR_HIER, M3AE_AR_MPI};
    for (int a = 0; a < 3; a++) {
        m3ae_ring *ring = m3ae_ring_create_comm(algos[a], MPI_COMM_WORLD);
        m3ae_ring_set_chunk(ring, 5000, 3);
        m3ae_buckets *b = m3ae_buckets_create(&reg, g, bucket_mb, first_mb, ring);
        const char *what = m3ae_ar_algo_name(m3ae_ring_algo(ring));
        int nb = m3ae_buckets_count(b), packed = 0;
        int *seen = calloc((size_t)reg.n, sizeof(int));
        unsigned long long h = 1469598103934665603ull;
        int last_rank = -1, order_ok = 1, size_ok = 1;
        for (int k = 0; k < nb; k++) {
            int n;
            const int *ts = m3ae_buckets_tensors(b, k, &n);
            size_t floats = 0;
            for (int j = 0; j < n; j++) {
                seen[ts[j]]++;
                floats += reg.p[ts[j]].numel;
                order_ok &= reg.p[ts[j]].backward_rank > last_rank;
                last_rank = reg.p[ts[j]].backward_rank;
                h = (h ^ (unsigned)ts[j]) * 1099511628211ull;
            }
            h = (h ^ 0xffffu) * 1099511628211ull;
            double cap = (k == 0 ? first_mb : bucket_mb) * 1024 * 1024;
            size_ok &= n == 1 || (double)floats * sizeof(float) <= cap;
            T_CHECK(floats == m3ae_buckets_floats(b, k), "%s bucket %d: %zu floats, reports %zu", what, k, floats,
                    m3ae_buckets_floats(b, k));
            packed += !m3ae_buckets_in_place(b, k);
        }
        T_CHECK(order_ok, "%s: the buckets do not follow the backward order", what);
        T_CHECK(size_ok, "%s: a bucket of several tensors is over its size", what);
        T_CHECK(nb > 3, "%s: only %d buckets at %g MiB", what, nb, bucket_mb);
        int bad_cover = 0;
        for (int i = 0; i < reg.n; i++) bad_cover += seen[i] != (reg.p[i].has_grad ? 1 : 0);
        T_CHECK(bad_cover == 0, "%s: %d tensors are not in exactly one bucket (or a tensor without a gradient is)", what,
                bad_cover);
        unsigned long long h0 = h;
        MPI_Bcast(&h0, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
        T_CHECK(h0 == h, "%s: rank %d has other buckets than rank 0", what, rank);

        for (int step = 0; step < 2; step++) {
            for (size_t i = 0; i < reg.arena_floats; i++) g[i] = value(rank, i, step);
            for (int k = 0; k < reg.n; k++) m3ae_buckets_ready(b, pos[k], 1); /* the hook, in backward order */
            for (int k = 0; k < nb; k++) m3ae_buckets_wait(b, k);
            size_t bad = 0, first_bad = 0;
            for (int i = 0; i < reg.n; i++) {
                const m3ae_param *p = &reg.p[i];
                for (size_t e = p->offset; e < p->offset + p->numel; e++) {
                    float want = 0;
                    if (p->has_grad)
                        for (int r = 0; r < world; r++) want += value(r, e, step);
                    else
                        want = value(rank, e, step);
                    if (g[e] != want && bad++ == 0) first_bad = e;
                }
            }
            T_CHECK(bad == 0, "%s step %d: %zu gradient values are not the exact sum over ranks (first at arena float "
                    "%zu: %g)", what, step, bad, first_bad, (double)g[first_bad]);
        }
        m3ae_info("%s: %d buckets (%d packed) over %d ranks: ok so far (%d failures)", what, nb, packed, world, t_failures);
        free(seen);
        m3ae_buckets_destroy(b);
        m3ae_ring_destroy(ring);
    }
    free(g);
    free(pos);
    m3ae_registry_free(&reg);
    int fails = t_failures;
    MPI_Allreduce(MPI_IN_PLACE, &fails, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    int rc = rank == 0 ? t_done("test_buckets") : (t_failures != 0);
    MPI_Finalize();
    return fails ? 1 : rc;
}
