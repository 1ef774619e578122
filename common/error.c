#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static void (*fatal_hook)(int code);

int m3ae_error_set(m3ae_error *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void m3ae_set_fatal_hook(void (*hook)(int code)) { fatal_hook = hook; }

void m3ae_fatal_at(const char *file, int line, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("m3ae: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  (at %s:%d, exit code %d)\n", file, line, code);
    fflush(stderr);
    if (fatal_hook) fatal_hook(code);
    exit(code);
}
