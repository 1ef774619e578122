/* Opening a backend by name, the planned workspace, and the GEMM rate probe: the parts of the
 * backend interface (model/backend.h) that every implementation shares. */
#include "model/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sys.h"
#include "model/backend_info.h"

const char *m3ae_dtype_name(m3ae_dtype t) { return t == M3AE_DTYPE_BF16 ? "bf16" : "f32"; }

const char *m3ae_backend_names(void) { return "cpu, cuda"; }

/* Why there is no CUDA backend here: this build has none yet (issue 11 implements model/cuda/ behind
 * this interface), and, where CUDA is compiled in, whether a device is visible at all. */
static m3ae_backend *open_cuda(const m3ae_backend_options *opt, m3ae_error *err) {
    char devices[1024];
    int n = m3ae_cuda_devices(devices, sizeof devices);
    const char *nl = strchr(devices, '\n');
    int len = nl ? (int)(nl - devices) : (int)strlen(devices);
    if (n < 0)
        m3ae_error_set(err, "device=cuda: the CUDA backend is not implemented in this build yet (and CUDA is not "
                            "compiled in: %.*s); use device=cpu", len, devices);
    else if (n == 0)
        m3ae_error_set(err, "device=cuda: %.*s; and the CUDA backend is not implemented in this build yet (issue "
                            "11); use device=cpu", len, devices);
    else
        m3ae_error_set(err, "device=cuda: the CUDA backend is not implemented in this build yet (%d device%s "
                            "visible, device %d requested; issue 11 adds it); use device=cpu",
                       n, n == 1 ? "" : "s", opt ? opt->device : 0);
    return NULL;
}

m3ae_backend *m3ae_backend_open(const char *name, const m3ae_backend_options *opt, m3ae_error *err) {
    if (!name || !strcmp(name, "cpu")) return m3ae_cpu_backend_open(opt, err);
    if (!strcmp(name, "cuda")) return open_cuda(opt, err);
    m3ae_error_set(err, "unknown backend '%s' (known: %s)", name, m3ae_backend_names());
    return NULL;
}

void m3ae_backend_close(m3ae_backend *be) {
    if (!be) return;
    if (be->workspace) be->ops->free(be, be->workspace);
    if (be->ops->release) be->ops->release(be);
    free(be);
}

void m3ae_backend_reserve_workspace(m3ae_backend *be, size_t bytes) {
    if (bytes <= be->workspace_bytes) return;
    if (be->workspace) be->ops->free(be, be->workspace);
    be->workspace = be->ops->alloc(be, bytes, "backend workspace");
    be->workspace_bytes = bytes;
}

void *m3ae_backend_workspace(m3ae_backend *be, size_t bytes, const char *what) {
    if (bytes == 0) return NULL;
    M3AE_CHECK(bytes <= be->workspace_bytes, M3AE_EXIT_FAIL,
               "%s needs %zu bytes of workspace but only %zu are reserved: the caller's memory plan misses this "
               "call (reserve with workspace_bytes() of the largest call at planning time)",
               what, bytes, be->workspace_bytes);
    return be->workspace;
}

double m3ae_backend_gemm_gflops(m3ae_backend *be) {
    const int n = 1024;
    const size_t bytes = (size_t)n * n * sizeof(float);
    float *a = be->ops->alloc(be, bytes, "GEMM rate probe"), *b = be->ops->alloc(be, bytes, "GEMM rate probe"),
          *c = be->ops->alloc(be, bytes, "GEMM rate probe");
    be->ops->gemm(be, 0, 1, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n); /* warm-up */
    be->ops->sync(be);
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double t0 = m3ae_now_s();
        be->ops->gemm(be, 0, 1, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        be->ops->sync(be);
        double g = 2.0 * n * n * (double)n / (m3ae_now_s() - t0) / 1e9;
        if (g > best) best = g;
    }
    be->ops->free(be, a), be->ops->free(be, b), be->ops->free(be, c);
    return best;
}
