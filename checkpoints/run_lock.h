/* One run folder, one job: an exclusive flock on RUN_DIR/.lock, taken by rank 0 before anything in
 * the folder is touched (stale temporaries removed, checkpoints read) and held for the whole run.
 * The holder writes "host HOST pid PID" into the file, so that a second job on the same --out can
 * say who has it. The kernel drops the lock when the process ends, however it ends (SIGKILL
 * included): a stale .lock file never blocks a new job. flock works on local file systems, on NFS
 * (Linux maps it to a byte-range lock) and on Lustre mounted with -o flock. */
#ifndef M3AE_CHECKPOINTS_RUN_LOCK_H
#define M3AE_CHECKPOINTS_RUN_LOCK_H

#include "common/error.h"

/* Creates RUN_DIR when needed and takes its lock: returns the descriptor that holds it (keep it open
 * for the run), or -1 with err naming the holder when another job has it, or why it failed. */
int m3ae_run_lock(const char *run_dir, m3ae_error *err);
/* Releases the lock (fd < 0: nothing). */
void m3ae_run_unlock(int fd);

#endif
