/* Error handling shared by every room: exit codes, fatal errors, recoverable error messages.
 *
 * Two styles, chosen by who can act on the failure:
 *  - M3AE_CHECK / M3AE_FATAL: the program cannot continue (out of memory, a library call that must
 *    not fail, a bad configuration). Prints "m3ae: error: <message>" plus file:line and exits.
 *  - m3ae_error + return -1: the caller may skip the item (a corrupt image during conversion).
 * Every message names the file, key, shape or rank involved and says what to do. */
#ifndef M3AE_COMMON_ERROR_H
#define M3AE_COMMON_ERROR_H

#include <stddef.h>

/* Exit codes of the m3ae command (documented in CONTRIBUTING.md and `m3ae help`). */
enum {
    M3AE_EXIT_OK = 0,     /* success, or stopped cleanly on a signal with a checkpoint written */
    M3AE_EXIT_FAIL = 1,   /* a runtime failure not covered below */
    M3AE_EXIT_USAGE = 2,  /* bad command line, unknown configuration key, value out of range */
    M3AE_EXIT_DATA = 3,   /* bad input data: missing/corrupt image, shard, manifest, vocabulary */
    M3AE_EXIT_CKPT = 4,   /* checkpoint missing, corrupt or of another configuration */
    M3AE_EXIT_SYSTEM = 5, /* out of memory, disk full, a library (MPI, HDF5, LMDB, CUDA) failed */
    M3AE_EXIT_DIVERGED = 6, /* training diverged: a non-finite loss or gradient norm (no checkpoint of it) */
    M3AE_EXIT_SKIP = 77   /* tests only: the test was skipped (ctest SKIP_RETURN_CODE) */
};

#define M3AE_ERROR_LEN 512
typedef struct {
    char msg[M3AE_ERROR_LEN];
} m3ae_error;

/* Formats the message into err (when err is not NULL) and returns -1, so that
 * `return m3ae_error_set(err, "...")` reports and fails in one line. */
int m3ae_error_set(m3ae_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

_Noreturn void m3ae_fatal_at(const char *file, int line, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Called by m3ae_fatal_at before exiting; dist/ installs one that aborts every MPI rank. */
void m3ae_set_fatal_hook(void (*hook)(int code));

#define M3AE_FATAL(code, ...) m3ae_fatal_at(__FILE__, __LINE__, (code), __VA_ARGS__)
#define M3AE_CHECK(cond, code, ...)                                                                \
    do {                                                                                           \
        if (!(cond)) M3AE_FATAL((code), __VA_ARGS__);                                              \
    } while (0)

#endif
