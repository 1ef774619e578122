/* The per-step watchdog: a thread that ends the whole job (MPI_Abort, exit code 5) when one training
 * step takes longer than watchdog_s, with a diagnostic that names the step and what the rank was
 * waiting for:
 *   rank R: step S hung for T s while waiting for <what> (rank P did not arrive)
 * A hung rank (stopped, deadlocked, a dead file system) cannot report itself; its peers can, because
 * they wait for it at the next collective. So the code that waits says what it waits for
 * (m3ae_watchdog_waiting), and m3ae_watchdog_arrive, called before a collective, finds the rank
 * that did not come: every rank exchanges an arrival number with its ring neighbours, and the right
 * neighbour of a rank that never arrives names it. Inside a collective (a ring) the peer a rank waits
 * for may itself be waiting, so a rank of the node whose process stopped running (its heartbeat in
 * the node's shared memory is stale) is named before the peer. A rank that waits without knowing for whom
 * reports a few seconds later than one that knows, so that the naming message comes first.
 *
 * All functions may be called when the watchdog is off (timeout 0, or never started): they then do
 * nothing (m3ae_watchdog_arrive does no communication). Call them from the thread that calls MPI
 * (the trainer's main loop); the watchdog's own thread only reads the state and aborts. */
#ifndef M3AE_DIST_WATCHDOG_H
#define M3AE_DIST_WATCHDOG_H

#include <stdint.h>

/* Starts the thread (MPI must be initialised); timeout_s <= 0 leaves the watchdog off. */
void m3ae_watchdog_start(double timeout_s);
/* A step starts / ends: the timeout counts from step_begin. step is the number the log shows. */
void m3ae_watchdog_step_begin(int64_t step);
void m3ae_watchdog_step_end(void);
/* What the rank waits for now ("the gradient all-reduce", "bucket 3 of the ring all-reduce") and the
 * rank it waits for (-1: not known); what NULL: not waiting (computing). The text is copied. */
void m3ae_watchdog_waiting(const char *what, int peer_rank);
/* Before a collective that every rank calls in the same order: waits until the left ring neighbour
 * arrived at the same collective (naming it while waiting), checks that it is the same collective
 * (the same arrival number: a mismatch is a bug that would deadlock, reported and fatal), and leaves
 * the state at waiting(what, -1) for the collective itself; the caller clears it with
 * waiting(NULL, -1) afterwards. */
void m3ae_watchdog_arrive(const char *what);
/* Stops and joins the thread. */
void m3ae_watchdog_stop(void);

#endif
