/* Gradient buckets: the gradient arena's tensors grouped, in the backward order of the registry
 * (backward_rank: the order in which the model reports gradients final), into buckets of about
 * bucket_mb MiB (the first one smaller, first_mb, so that communication starts early), the same on
 * every rank. Tensors without a gradient (registry has_grad = 0) are in no bucket: their gradient
 * stays zero on every rank.
 *
 * In a step: the gradient-ready hook passes each reported range to m3ae_buckets_ready, which starts
 * the all-reduce (dist/ring.h) of every bucket whose tensors are all reported and then progresses the
 * running ones by polling, so the messages move while backward computes; m3ae_buckets_wait(k) (in
 * bucket order on every rank: an operation only advances while its rank tests or waits on it) blocks
 * until bucket k is summed, so the optimizer can update its tensors while later buckets travel.
 *
 * Polling, not a progress thread: on this machine (2 cores, Open MPI 4.1.4 vader, which provides
 * MPI_THREAD_MULTIPLE; dist_init asks for FUNNELED) a simulated backward of 200 ms in 24 slices with
 * 8 buckets of 4 MB reported along it left 16-41 ms of communication exposed after backward when
 * the slices polled, 81-177 ms with a progress thread doing all the bucket MPI (it competes with
 * compute for the cores) and 171-246 ms with neither (two rounds, median of 6 steps, busy machine).
 * The trainer's hooks come once per gradient-ready group (a layer's stream), often enough to poll.
 *
 * A bucket whose tensors are one stretch of the arena is reduced in place; otherwise it is packed
 * into a buffer of its own at start and unpacked by wait. */
#ifndef M3AE_DIST_BUCKETS_H
#define M3AE_DIST_BUCKETS_H

#include "dist/ring.h"
#include "model/registry.h"

typedef struct m3ae_buckets m3ae_buckets;

/* grads: the gradient arena laid out by r (host memory). bucket_mb > 0; first_mb > 0 (the first
 * bucket's size; values above bucket_mb mean bucket_mb). */
m3ae_buckets *m3ae_buckets_create(const m3ae_registry *r, float *grads, double bucket_mb, double first_mb,
                                  m3ae_ring *ring);
void m3ae_buckets_destroy(m3ae_buckets *b);

int m3ae_buckets_count(const m3ae_buckets *b);
/* Registry indices of bucket k's tensors (in backward order), *n of them; its size in floats. */
const int *m3ae_buckets_tensors(const m3ae_buckets *b, int k, int *n);
size_t m3ae_buckets_floats(const m3ae_buckets *b, int k);
/* 1 when bucket k is reduced in place (its tensors are one stretch of the arena). */
int m3ae_buckets_in_place(const m3ae_buckets *b, int k);
/* When bucket k's all-reduce started in this step (m3ae_now_s, common/sys.h): for timelines. Valid
 * until the bucket is started again in the next step. */
double m3ae_buckets_started_at(const m3ae_buckets *b, int k);

/* Tensors first .. first+n-1 (registry indices) are final: starts the buckets they complete, then
 * progresses every running bucket without blocking. */
void m3ae_buckets_ready(m3ae_buckets *b, int first, int n);
/* Progresses every running bucket without blocking (e.g. between passes). */
void m3ae_buckets_poll(m3ae_buckets *b);
/* Blocks until bucket k is summed over the ranks and its gradients are in the arena. A bucket never
 * started in this step (a tensor never reported) is a fatal error naming it. Call for every bucket
 * in bucket order on every rank, once per step; after the last the counts reset for the next step. */
void m3ae_buckets_wait(m3ae_buckets *b, int k);

#endif
