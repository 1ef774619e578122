/* Logging: informational lines from rank 0 only, warnings from every rank with its number. */
#ifndef M3AE_COMMON_LOG_H
#define M3AE_COMMON_LOG_H

/* Set once after MPI start-up (defaults: rank 0 of 1). */
void m3ae_log_init(int rank, int world);
int m3ae_log_rank(void);

/* Rank 0 only, to stdout, flushed (so that logs interleave sensibly under mpirun and Slurm). */
void m3ae_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Every rank, to stderr, prefixed "m3ae: warning: [rank r] " when there is more than one rank. */
void m3ae_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
