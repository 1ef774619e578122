/* MPI set-up for data-parallel training: start-up and shutdown, rank and world, a fatal-error hook
 * that takes every rank down with MPI_Abort, agreement on flags (a stop signal seen by any rank), and
 * the gradient sum over ranks. The model never sees MPI: launch/ calls these between steps. */
#ifndef M3AE_DIST_DIST_H
#define M3AE_DIST_DIST_H

#include <stddef.h>

typedef struct {
    int rank, world;
    int local_rank, local_world; /* ranks on this node */
    int initialized_here;        /* 1 when m3ae_dist_init called MPI_Init */
} m3ae_dist;

/* Starts MPI (when not started yet; one rank without mpirun works too), sets up logging for the
 * rank and installs the abort-all fatal hook. */
void m3ae_dist_init(m3ae_dist *d, int *argc, char ***argv);
void m3ae_dist_finalize(m3ae_dist *d);

/* 1 on every rank when flag is non-zero on any rank (a collective: every rank must call it). */
int m3ae_dist_any(int flag);
/* Sum of doubles over ranks, in place (small vectors: loss sums, counts). */
void m3ae_dist_sum_doubles(double *x, int n);
/* Maximum of doubles over ranks, in place (the slowest rank's times). */
void m3ae_dist_max_doubles(double *x, int n);
/* x (n floats) <- sum over ranks (in place) with MPI_Allreduce. The trainer's gradients go through
 * dist/ring.h and dist/buckets.h (allreduce = mpi there is this same oracle, bucket by bucket). */
void m3ae_dist_allreduce_sum(float *x, size_t n);
/* Rank 0's buffer to every rank (parameter broadcast at start-up). */
void m3ae_dist_broadcast(void *buf, size_t bytes);
void m3ae_dist_barrier(void);
/* n doubles of every rank to rank 0 in rank order: all holds n x world doubles on rank 0 and may
 * be NULL elsewhere (the straggler line: every rank's step time). */
void m3ae_dist_gather_doubles(const double *x, int n, double *all);
/* Every rank's n bytes to rank 0 in rank order: on rank 0 sink(ctx, rank, bytes, n) is called once
 * per rank, its own first, so that large per-rank records (a trace) stream to a file without one
 * buffer of all of them. A collective. */
typedef void (*m3ae_dist_bytes_sink)(void *ctx, int rank, const void *bytes, size_t n);
void m3ae_dist_gather_bytes(const void *buf, size_t n, m3ae_dist_bytes_sink sink, void *ctx);

#endif
