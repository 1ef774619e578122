/* The run's timeline (`trace = FILE`): a Chrome trace-event JSON file that Perfetto
 * (ui.perfetto.dev) and chrome://tracing open, as Horovod's timeline is. Each rank is a process
 * (pid = rank, named "rank N"), with a thread for the main loop (loader wait, each pass's forward
 * and backward, optimizer, validation, checkpoint) and one for communication (each all-reduce: one
 * today, one per bucket when the gradients go in buckets). Events are complete events ("ph": "X",
 * ts and dur in microseconds from a common origin taken after a barrier at open).
 *
 * Each rank keeps its events in a buffer of fixed capacity allocated at open (nothing is allocated
 * while training; events past the capacity are counted and dropped, and the count is reported); at
 * the end of the run (and at a stop) m3ae_trace_write sends every rank's events to rank 0, which
 * writes the one file atomically. */
#ifndef M3AE_LAUNCH_TRACE_H
#define M3AE_LAUNCH_TRACE_H

#include <stdint.h>

#include "common/error.h"

typedef struct m3ae_trace m3ae_trace;

enum { M3AE_TRACE_MAIN = 1, M3AE_TRACE_COMM = 2 }; /* the thread (tid) of an event */

/* Events each rank holds (about 70 bytes each). */
#define M3AE_TRACE_CAPACITY (1 << 18)

/* A collective when on (every rank calls it with the same path): NULL when path is NULL or empty (off).
 * path is the file rank 0 writes at the end. */
m3ae_trace *m3ae_trace_open(const char *path, int rank, int world, int capacity);
/* Seconds on the m3ae_now_s clock (common/sys.h); a NULL trace does nothing. name is copied
 * (up to 47 characters: "allreduce bucket 12"), cat must be a string constant. step: the step the
 * event belongs to (args.step), -1 none. */
void m3ae_trace_add(m3ae_trace *t, const char *name, const char *cat, int tid, int64_t step, double t0, double t1);
/* Rank 0 writes the file from every rank's events (a collective; NULL trace: nothing). The events
 * stay, so that a later write has them all again. */
int m3ae_trace_write(m3ae_trace *t, m3ae_error *err);
void m3ae_trace_close(m3ae_trace *t);

#endif
