/* A small test harness: checks that count failures and report them, the shared-data lookup, and
 * the exit-code contract (0 pass, 1 fail, 77 skipped). Header-only; tests include it once. */
#ifndef M3AE_TESTS_HARNESS_H
#define M3AE_TESTS_HARNESS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int t_failures = 0, t_checks = 0;

#define T_CHECK(cond, ...)                                                                         \
    do {                                                                                           \
        t_checks++;                                                                                \
        if (!(cond)) {                                                                             \
            t_failures++;                                                                          \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

/* |a - b| <= atol + rtol * |b| */
#define T_CLOSE(a, b, atol, rtol, ...)                                                             \
    T_CHECK(fabs((double)(a) - (double)(b)) <= (atol) + (rtol)*fabs((double)(b)), __VA_ARGS__)

/* Prints the summary line and returns the process exit code. */
static inline int t_done(const char *name) {
    if (t_checks == 0) {
        fprintf(stderr, "FAIL %s: no check ran\n", name);
        return 1;
    }
    printf("%s: %d checks, %d failed\n", name, t_checks, t_failures);
    return t_failures ? 1 : 0;
}

static inline void t_skip(const char *why) {
    printf("SKIPPED: %s\n", why);
    fflush(stdout);
    exit(77);
}

/* Path of a file or folder in the shared data folder ($M3AE_DATA, default ../shared/data).
 * Missing: fails under CI (environment variable CI set), skips otherwise. */
static inline const char *t_data(const char *rel) {
    static char path[4][4096];
    static int slot = 0;
    const char *root = getenv("M3AE_DATA");
    if (!root) root = "../shared/data";
    char *p = path[slot++ & 3];
    snprintf(p, 4096, "%s/%s", root, rel);
    struct stat st;
    if (stat(p, &st) != 0) {
        if (getenv("CI")) {
            fprintf(stderr, "FAIL: the shared data '%s' is missing (CI is set, so this is an error); "
                            "put the shared folder beside the project or set M3AE_DATA\n", p);
            exit(1);
        }
        char why[4200];
        snprintf(why, sizeof why, "shared data '%s' not found (set M3AE_DATA)", p);
        t_skip(why);
    }
    return p;
}

#endif
