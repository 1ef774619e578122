#include "dist/dist.h"

#include <limits.h>
#include <mpi.h>
#include <stdint.h>

#include "common/arena.h"
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

void m3ae_dist_gather_doubles(const double *x, int n, double *all) {
    MPI_CHECK(MPI_Gather(x, n, MPI_DOUBLE, all, n, MPI_DOUBLE, 0, MPI_COMM_WORLD), "gather of doubles (MPI_Gather)");
}

#define GATHER_BYTES_TAG 7782

void m3ae_dist_gather_bytes(const void *buf, size_t n, m3ae_dist_bytes_sink sink, void *ctx) {
    int rank, world;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    uint64_t mine = n, *lens = NULL;
    if (rank == 0) lens = m3ae_alloc((size_t)world * sizeof *lens, "the byte counts of a gather");
    MPI_CHECK(MPI_Gather(&mine, 1, MPI_UINT64_T, lens, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD), "gather of byte counts");
    const size_t piece = (size_t)INT_MAX / 2; /* MPI counts are int */
    if (rank != 0) {
        for (size_t off = 0; off < n; off += piece) {
            int len = n - off > piece ? (int)piece : (int)(n - off);
            MPI_CHECK(MPI_Send((const char *)buf + off, len, MPI_BYTE, 0, GATHER_BYTES_TAG, MPI_COMM_WORLD),
                      "send of a rank's bytes to rank 0 (MPI_Send)");
        }
        return;
    }
    sink(ctx, 0, buf, n);
    uint64_t most = 0;
    for (int r = 1; r < world; r++) most = lens[r] > most ? lens[r] : most;
    char *in = m3ae_alloc(most ? most : 1, "the receive buffer of a gather");
    for (int r = 1; r < world; r++) {
        for (size_t off = 0; off < lens[r]; off += piece) {
            int len = lens[r] - off > piece ? (int)piece : (int)(lens[r] - off);
            MPI_CHECK(MPI_Recv(in + off, len, MPI_BYTE, r, GATHER_BYTES_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
                      "receive of a rank's bytes on rank 0 (MPI_Recv)");
        }
        sink(ctx, r, in, lens[r]);
    }
    m3ae_free(in);
    m3ae_free(lens);
}
