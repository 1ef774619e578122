/* A bounded set of open shards for datasets with more shards than file descriptors allow.
 *
 * Every open LMDB environment holds a file descriptor; a dataset of 1,100 shards would need more
 * than the usual soft limit of 1024. The cache decides at creation how many shards may be open at
 * once: if the dataset does not fit in its share of RLIMIT_NOFILE (a third of the soft limit beyond
 * a reserve of M3AE_SHARD_FD_RESERVE for MPI, HDF5, logs and a second dataset), it first raises the
 * soft limit towards the hard limit; if it still does not fit, shards are suspended (io/shard.h) and
 * opened on demand, the least recently used unreferenced one closed to make room. Both are logged.
 * A reader holds a reference on its shard (acquire .. release) so that it is never closed under it. */
#ifndef M3AE_IO_SHARD_CACHE_H
#define M3AE_IO_SHARD_CACHE_H

#include "common/error.h"
#include "io/shard.h"

#define M3AE_SHARD_FD_RESERVE 64

typedef struct m3ae_shard_cache m3ae_shard_cache;

/* Over the array of n shards (borrowed; it and the shards must outlive the cache), filled in by the
 * caller with m3ae_shard_cache_add as it opens them; `what` names the dataset in the log. The budget
 * is decided here, before any shard is opened. NULL only when out of memory (err set). */
m3ae_shard_cache *m3ae_shard_cache_create(m3ae_shard **shards, int n, const char *what, m3ae_error *err);
/* Registers shards[k] = s, just opened; when they do not all fit it is suspended at once (to be
 * resumed on acquire), so that opening a dataset never holds more than one of them. */
void m3ae_shard_cache_add(m3ae_shard_cache *c, int k, m3ae_shard *s);
void m3ae_shard_cache_destroy(m3ae_shard_cache *c);
/* Makes shard k open and takes a reference; 0, or -1 with err (re-opening failed). Thread-safe. */
int m3ae_shard_cache_acquire(m3ae_shard_cache *c, int k, m3ae_error *err);
void m3ae_shard_cache_release(m3ae_shard_cache *c, int k);
/* 1 when every shard stays open (readers may then be kept for the whole run). */
int m3ae_shard_cache_all_open(const m3ae_shard_cache *c);
/* The most shards open at once (n when all fit). */
int m3ae_shard_cache_capacity(const m3ae_shard_cache *c);

/* How many shards this process may keep open: a third of the soft RLIMIT_NOFILE beyond the reserve
 * (at least 4), after raising the soft limit towards the hard one when `want` shards would not fit.
 * *raised_from / *raised_to receive the old and new soft limits (equal when unchanged). */
int m3ae_shard_fd_budget(int want, long *raised_from, long *raised_to);

#endif
