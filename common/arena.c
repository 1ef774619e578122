#include "common/arena.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

void *m3ae_alloc(size_t bytes, const char *what) {
    void *p = NULL;
    size_t n = m3ae_align_up(bytes ? bytes : 1);
    if (posix_memalign(&p, M3AE_ALIGN, n) != 0 || !p)
        M3AE_FATAL(M3AE_EXIT_SYSTEM,
                   "cannot allocate %.1f MiB for %s; reduce the micro-batch (per_gpu_batchsize) or "
                   "use a machine with more memory",
                   (double)n / (1 << 20), what);
    memset(p, 0, n);
    return p;
}

void m3ae_free(void *p) { free(p); }
