/* dist/: rank agreement on a flag raised by one rank, sums of metrics, gradient all-reduce of an
 * arena against a serial sum, broadcast; and a fatal error on one rank takes all ranks down (run as
 * a child mpirun by the test with the argument "die"). */
#include <mpi.h>

#include "common/error.h"
#include "dist/dist.h"
#include "harness.h"

int main(int argc, char **argv) {
    m3ae_dist d;
    m3ae_dist_init(&d, &argc, &argv);
    if (argc > 1 && !strcmp(argv[1], "die")) {
        if (d.rank == d.world - 1) M3AE_FATAL(M3AE_EXIT_DATA, "rank %d: deliberate failure for the test", d.rank);
        m3ae_dist_barrier(); /* the other ranks wait here until the abort kills them */
        m3ae_dist_finalize(&d);
        return 0;
    }
    T_CHECK(d.world >= 2 && d.local_world == d.world, "world %d local %d", d.world, d.local_world);
    T_CHECK(m3ae_dist_any(d.rank == d.world - 1) == 1, "flag from the last rank not seen on rank %d", d.rank);
    T_CHECK(m3ae_dist_any(0) == 0, "no flag raised but any() is 1");
    double m[2] = {1.0, (double)d.rank};
    m3ae_dist_sum_doubles(m, 2);
    T_CHECK(m[0] == d.world && m[1] == d.world * (d.world - 1) / 2.0, "sum of doubles %g %g", m[0], m[1]);
    enum { N = 300001 };
    static float g[N];
    for (int i = 0; i < N; i++) g[i] = (float)((i * 7 + d.rank * 13) % 101) * 0.25f;
    m3ae_dist_allreduce_sum(g, N);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        float want = 0;
        for (int r = 0; r < d.world; r++) want += (float)((i * 7 + r * 13) % 101) * 0.25f;
        bad += g[i] != want;
    }
    T_CHECK(bad == 0, "%d gradient sums differ from the serial sum", bad);
    int payload[4] = {d.rank, 1, 2, 3};
    if (d.rank == 0) payload[0] = 42;
    m3ae_dist_broadcast(payload, sizeof payload);
    T_CHECK(payload[0] == 42, "broadcast gave %d on rank %d", payload[0], d.rank);
    int fails = t_failures;
    MPI_Allreduce(MPI_IN_PLACE, &fails, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    int rc = d.rank == 0 ? t_done("test_dist") : 0;
    m3ae_dist_finalize(&d);
    return fails ? 1 : rc;
}
