#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>

static int log_rank = 0, log_world = 1;

void m3ae_log_init(int rank, int world) {
    log_rank = rank;
    log_world = world;
}

int m3ae_log_rank(void) { return log_rank; }

void m3ae_info(const char *fmt, ...) {
    if (log_rank != 0) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

void m3ae_warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (log_world > 1)
        fprintf(stderr, "m3ae: warning: [rank %d] ", log_rank);
    else
        fputs("m3ae: warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}
