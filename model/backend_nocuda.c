/* The CUDA entry points of model/backend_info.h for builds without CUDA (-DM3AE_CUDA=OFF). */
#ifndef M3AE_HAVE_CUDA
#include <stdio.h>

#include "model/backend_info.h"

int m3ae_cuda_compiled(void) { return 0; }

void m3ae_cuda_versions(char *buf, size_t n) { snprintf(buf, n, "not compiled"); }

int m3ae_cuda_devices(char *buf, size_t n) {
    snprintf(buf, n, "CUDA not compiled in (configure with nvcc present or -DM3AE_CUDA=ON)");
    return -1;
}

int m3ae_cuda_selftest(char *msg, size_t n) {
    snprintf(msg, n, "CUDA not compiled in; this build has no CUDA backend");
    return 77;
}
#else
typedef int m3ae_backend_nocuda_unused; /* keeps ISO C happy: no empty translation unit */
#endif
