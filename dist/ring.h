/* The gradient all-reduce over ranks: a ring (reduce-scatter then all-gather over non-blocking
 * point-to-point messages, pipelined in chunks, in place, any length), a hierarchical ring for jobs
 * that span nodes (reduce-scatter inside the node, one ring per shard across the nodes, all-gather
 * inside the node), and MPI_Allreduce (the oracle).
 *
 * Determinism: every element's additions happen in an order fixed by the ranks' layout alone (the
 * world size, and for hier the node layout), never by timing or chunk size; the finished values are
 * copied, so every rank ends with the same bits and a rerun gives them again.
 *
 * The header is MPI-free (launch/ includes it); dist/ring_mpi.h adds the communicator entry. An
 * operation (m3ae_ring_op) is started, progressed by polling and waited for, so that the gradient
 * buckets of dist/buckets.h can run several while backward computes. */
#ifndef M3AE_DIST_RING_H
#define M3AE_DIST_RING_H

#include <stddef.h>

typedef enum { M3AE_AR_AUTO = 0, M3AE_AR_RING, M3AE_AR_HIER, M3AE_AR_MPI } m3ae_ar_algo;

/* "auto" | "ring" | "hier" | "mpi" -> algorithm (-1 for anything else). */
int m3ae_ar_algo_parse(const char *name, m3ae_ar_algo *out);
const char *m3ae_ar_algo_name(m3ae_ar_algo a);

/* Defaults of the pipelining: chunk of 64 Ki floats (256 KiB) per message, 4 chunks in flight per
 * operation. */
#define M3AE_RING_CHUNK_FLOATS ((size_t)1 << 16)
#define M3AE_RING_WINDOW 4

typedef struct m3ae_ring m3ae_ring; /* the communicators of one all-reduce set-up */

/* Collective over MPI_COMM_WORLD (every rank calls it with the same algo). auto = hier when the job
 * spans nodes, else ring. hier on nodes of unequal rank counts falls back to ring with a warning.
 * The node split is MPI_Comm_split_type(SHARED); for tests the environment variable
 * M3AE_FAKE_NODES=K splits the ranks into K blocks of consecutive ranks instead (rank * K / world),
 * which is the only place that honours it. */
m3ae_ring *m3ae_ring_create(m3ae_ar_algo algo);
void m3ae_ring_destroy(m3ae_ring *g);
/* The algorithm in use after auto and fallback are resolved. */
m3ae_ar_algo m3ae_ring_algo(const m3ae_ring *g);
/* Ranks of the set-up; nodes and ranks per node as the split found them. */
int m3ae_ring_world(const m3ae_ring *g);
int m3ae_ring_nodes(const m3ae_ring *g);
/* Pipelining for the operations created after this call (tests try several; chunk >= 1, window >= 1). */
void m3ae_ring_set_chunk(m3ae_ring *g, size_t chunk_floats, int window);

/* x (n floats) <- the sum over ranks (average: divided by the world size), in place; blocking.
 * Every rank calls it with the same n. */
void m3ae_ring_allreduce(m3ae_ring *g, float *x, size_t n, int average);

/* An operation that can run while other work goes on. id >= 1 tells concurrent operations apart
 * (the bucket index + 1: the same id on every rank); its message tags are its own. Scratch is
 * allocated here, none in start. */
typedef struct m3ae_ring_op m3ae_ring_op;
m3ae_ring_op *m3ae_ring_op_create(m3ae_ring *g, int id);
void m3ae_ring_op_destroy(m3ae_ring_op *op);
/* Starts the all-reduce of x (n floats); x must stay untouched until the operation is done. */
void m3ae_ring_op_start(m3ae_ring_op *op, float *x, size_t n, int average);
/* Progresses without blocking; 1 when done (also when never started). */
int m3ae_ring_op_test(m3ae_ring_op *op);
/* Blocks until done. */
void m3ae_ring_op_wait(m3ae_ring_op *op);

#endif
