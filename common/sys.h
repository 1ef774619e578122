/* Small system helpers: a monotonic clock, the CPU's name, fsync of files and folders, and atomic
 * replacement of small files. */
#ifndef M3AE_COMMON_SYS_H
#define M3AE_COMMON_SYS_H

#include <stddef.h>

#include "common/error.h"

/* Seconds on the monotonic clock. */
double m3ae_now_s(void);
/* "AMD EPYC 7B13" from /proc/cpuinfo ("unknown CPU" elsewhere). */
void m3ae_cpu_name(char *buf, size_t n);
/* fsync of a file, or of a folder (is_dir); 0 or -1 with errno. */
int m3ae_fsync_path(const char *path, int is_dir);
/* fsync of the folder that holds path. */
int m3ae_fsync_parent(const char *path);
/* mkdir -p: creates path and its missing parents (mode 0755); 0, or -1 with errno. */
int m3ae_mkdir_p(const char *path);
/* Replaces the small file `path` with `text` atomically (temporary file, fsync, rename, folder fsync). */
int m3ae_write_file_atomic(const char *path, const char *text, m3ae_error *err);

#endif
