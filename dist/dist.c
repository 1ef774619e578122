#include "dist/dist.h"

#include <limits.h>
#include <mpi.h>
#include <stdint.h>

#include "common/error.h"
#include "common/log.h"
#include "dist/mpi_check.h"

static void abort_all(int code) {
    int up = 0, down = 0;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (up && !down) MPI_Abort(MPI_COMM_WORLD, code);
}

#define MPI_CHECK M3AE_MPI_CHECK

void m3ae_dist_init(m3ae_dist *d, int *argc, char ***argv) {
    int up = 0;
    MPI_Initialized(&up);
    d->initialized_here = 0;
    if (!up) {
        int provided = 0;
        MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "start-up (MPI_Init_thread)");
        d->initialized_here = 1;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->world);
    MPI_Comm local;
    MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &local),
              "node split (MPI_Comm_split_type)");
    MPI_Comm_rank(local, &d->local_rank);
    MPI_Comm_size(local, &d->local_world);
    MPI_Comm_free(&local);
    m3ae_log_init(d->rank, d->world);
    m3ae_set_fatal_hook(abort_all);
}

void m3ae_dist_finalize(m3ae_dist *d) {
    m3ae_set_fatal_hook(NULL);
    if (d->initialized_here) MPI_Finalize();
}

int m3ae_dist_any(int flag) {
    int v = flag != 0, any = 0;
    MPI_CHECK(MPI_Allreduce(&v, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD), "flag agreement (MPI_Allreduce)");
    return any;
}

void m3ae_dist_sum_doubles(double *x, int n) {
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "sum of metrics (MPI_Allreduce)");
}

void m3ae_dist_max_doubles(double *x, int n) {
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD), "maximum over ranks (MPI_Allreduce)");
}

void m3ae_dist_allreduce_sum(float *x, size_t n) {
    /* MPI counts are int: large arenas go in pieces. */
    for (size_t off = 0; off < n;) {
        int len = n - off > (size_t)INT_MAX / 2 ? INT_MAX / 2 : (int)(n - off);
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, x + off, len, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
                  "gradient sum (MPI_Allreduce)");
        off += (size_t)len;
    }
}

void m3ae_dist_broadcast(void *buf, size_t bytes) {
    for (size_t off = 0; off < bytes;) {
        int len = bytes - off > (size_t)INT_MAX / 2 ? INT_MAX / 2 : (int)(bytes - off);
        MPI_CHECK(MPI_Bcast((char *)buf + off, len, MPI_BYTE, 0, MPI_COMM_WORLD), "broadcast (MPI_Bcast)");
        off += (size_t)len;
    }
}

void m3ae_dist_barrier(void) { MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD), "barrier"); }
