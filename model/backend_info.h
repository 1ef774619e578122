/* What the compute backends are: the BLAS library, and whether CUDA was compiled in and which
 * devices are visible. */
#ifndef M3AE_MODEL_BACKEND_INFO_H
#define M3AE_MODEL_BACKEND_INFO_H

#include <stddef.h>

/* "OpenBLAS 0.3.21 ..." (the library's own configuration string). */
const char *m3ae_blas_version(void);

/* 1 when the CUDA backend was compiled in. */
int m3ae_cuda_compiled(void);
/* CUDA runtime and cuBLAS versions ("" when not compiled). */
void m3ae_cuda_versions(char *buf, size_t n);
/* Number of visible CUDA devices: 0 when none (or no driver), -1 when CUDA was not compiled in.
 * Writes one line per device ("0: NVIDIA H100 80GB HBM3, sm_90, 79.1 GiB") or the reason for none. */
int m3ae_cuda_devices(char *buf, size_t n);
/* Runs a CUDA kernel and a cuBLAS SGEMM on device 0 and compares both with the CPU.
 * Returns 0 when they agree, 77 when there is no device (msg says why), 1 on a mismatch or error. */
int m3ae_cuda_selftest(char *msg, size_t n);

#endif
