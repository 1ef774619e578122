/* Real MPI ranks: every rank sums a rank-dependent vector with MPI_Allreduce and checks the exact
 * result, and rank-0-only logging is wired to the rank. */
#include <mpi.h>

#include "common/log.h"
#include "harness.h"

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank = 0, world = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    m3ae_log_init(rank, world);
    T_CHECK(world >= 2, "expected at least 2 ranks, got %d", world);
    enum { N = 1 << 16 };
    static float x[N];
    for (int i = 0; i < N; i++) x[i] = (float)(rank + 1) * (float)(i % 7);
    MPI_Allreduce(MPI_IN_PLACE, x, N, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    float ranks_sum = (float)(world * (world + 1) / 2);
    int bad = 0;
    for (int i = 0; i < N; i++) bad += x[i] != ranks_sum * (float)(i % 7);
    T_CHECK(bad == 0, "rank %d: %d wrong sums", rank, bad);
    int fails = t_failures;
    MPI_Allreduce(MPI_IN_PLACE, &fails, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    m3ae_info("allreduce over %d ranks: %s", world, fails ? "FAILED" : "ok");
    int rc = rank == 0 ? t_done("test_mpi_allreduce") : (t_failures != 0);
    MPI_Finalize();
    return fails ? 1 : rc;
}
